"""kaltura_export: land Kaltura Virtual Classroom reports in S3 as partitioned CSV."""

__version__ = "0.1.0"

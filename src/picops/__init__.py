"""picops: operations toolkit for the PicMetrics serverless photo platform on AWS."""

__version__ = "0.1.0"

"""Cloud glue of training: the SageMaker training environment and the multi-host Ray cluster."""

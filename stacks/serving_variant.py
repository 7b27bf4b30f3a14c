"""The endpoint config's parts that depend on the stage's serving choice: instances or Serverless Inference, and
data capture (which Serverless Inference does not support)."""

from __future__ import annotations

from aws_cdk import aws_sagemaker as sagemaker

from stacks.config import StageConfig
from stacks.storage import DATA_CAPTURE


def production_variant(config: StageConfig, model_name: str) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
    serving = config.serving
    if serving.serverless:
        return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=config.variant_name,
            model_name=model_name,
            serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                memory_size_in_mb=serving.serverless_memory_mb,  # type: ignore[arg-type]
                max_concurrency=serving.serverless_max_concurrency,
            ),
        )
    return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
        variant_name=config.variant_name,
        model_name=model_name,
        instance_type=serving.instance_type,
        initial_instance_count=serving.instance_count,
        initial_variant_weight=1.0,
    )


def data_capture(
    config: StageConfig, bucket_name: str, key_arn: str
) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty:
    percent = config.serving.data_capture_percent
    return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
        enable_capture=percent > 0,
        initial_sampling_percentage=max(percent, 1),
        destination_s3_uri=f"s3://{bucket_name}/{DATA_CAPTURE.rstrip('/')}",
        kms_key_id=key_arn,
        capture_options=[
            sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
            sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
        ],
        capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
            json_content_types=["application/json"], csv_content_types=["text/csv"]
        ),
    )

"""Controller stack: the Lambda function that closes the loop every minute, its schedule, modes and permissions.

Stateless, deployed after Storage and Serving. Names are stable (function, dead-letter queue, modes parameter),
so the monitoring stack, deployed before Serving, alarms on them without cross-stack references.

- EventBridge Scheduler invokes the function once a minute (flexible window off) with the scheduled time as
  the event's `time`; the scheduler retries a failed delivery for up to a minute, then dead-letters it.
- The function runs once at a time (reserved concurrency 1): two runs never act on a fleet together. A run
  that fails is not retried (the next minute's run is the retry; a late retry would act on an old minute): its
  event goes to the dead-letter queue with the error, and the DLQ and Errors alarms say so.
- The fleets travel as an object in the stage bucket (stacks/controller_fleets.py), not in the environment.
- IAM scales only resources tagged for the stage (stacks/controller_iam.py): its size does not grow with fleets.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.artifact import ModelArtifact
from stacks.common import allow, send_messages, stage_log_group, use_key
from stacks.controller_asset import HANDLER
from stacks.controller_environment import controller_environment, trained_lag_minutes
from stacks.controller_fleets import ShippedFleets
from stacks.controller_iam import controller_policy
from stacks.layers import CONTROLLER_LAYERS
from stacks.roles import acknowledge
from stacks.serving import ServingStack
from stacks.stage_stack import StageProps, StageStack

INITIAL_MODES = {"stage": None, "fleets": {}}


class ControllerStack(StageStack):
    DESCRIPTION = "the controller that scales the stage's fleets every minute"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        props: StageProps,
        *,
        serving: ServingStack,
        artifact: ModelArtifact,
        package: Path,
    ) -> None:
        super().__init__(scope, construct_id, props)
        self.add_stack_dependency(serving)  # the endpoint it calls exists first
        config, key, bucket_name = self.config, self.key, self.bucket_name
        settings = config.controller
        function_name = config.controller_function_name
        arn = f"arn:{self.partition}"
        where = f"{self.region}:{self.account}"

        # The stage key's policy lets CloudWatch Logs use it for the stage's /aws/lambda/rl-autoscaler-<stage>-* groups.
        self.log_group = stage_log_group(self, "Logs", name=f"/aws/lambda/{function_name}", config=config, key=key)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            queue_name=config.controller_dlq_name,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            data_key_reuse=cdk.Duration.hours(1),
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        acknowledge(
            self.dead_letters,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the controller's failed runs (the scheduler's "
            "undeliverable events and the function's failed invocations); a queue behind it would hold nothing.",
        )
        self.modes = ssm.StringParameter(
            self,
            "Modes",
            parameter_name=config.modes_parameter_name,
            string_value=json.dumps(INITIAL_MODES, separators=(", ", ": ")),
            description=(
                f"RL autoscaler {config.name}: controller modes, read every run. "
                '{"stage": "off"|"shadow"|"active"|null, "fleets": {"<fleet>": "off"|"shadow"|"active"}}'
            ),
        )

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"RL autoscaler {config.name} controller: reads metrics and fleets, scales the named fleets",
        )
        policy = controller_policy(
            self, config, key_arn=key.key_arn, dead_letters_arn=self.dead_letters.queue_arn, arn=arn, where=where
        )
        policy.attach_to_role(self.role)

        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=f"RL autoscaler {config.name}: one control run per minute over the stage's fleets",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(package)),
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(self, f"Layer{i}", layer.arn(self.region))
                for i, layer in enumerate(CONTROLLER_LAYERS)
            ],
            role=self.role,
            memory_size=settings.memory_mb,
            timeout=cdk.Duration.seconds(settings.timeout_s),
            reserved_concurrent_executions=settings.reserved_concurrency,
            environment=controller_environment(config, artifact, bucket_name),
            environment_encryption=key,
            log_group=self.log_group,
        )
        self.fleets = ShippedFleets(self, "Fleets", config=config, key=key)
        self.function.node.add_dependency(self.fleets.copy)  # a first run finds its fleets
        trained_lag = trained_lag_minutes(artifact)
        if trained_lag != settings.publication_lag_minutes:
            cdk.Annotations.of(self).add_warning_v2(
                "rl-autoscaler:observation-lag-mismatch",
                f"Stage {config.name}: the controller decides on minutes {settings.publication_lag_minutes} min "
                f"old (controller.publication_lag_minutes) but the packaged policy ({artifact.model_version}) was "
                f"trained and scored on minutes {trained_lag} min old; train it with "
                f"--sim '{{\"observation_lag_minutes\": {settings.publication_lag_minutes}}}' or set the lag to match.",
            )
        # The policy before the function (a first run has its permissions); the role is already a GetAtt.
        function_resource = self.function.node.default_child
        assert isinstance(function_resource, lambda_.CfnFunction)
        function_resource.add_override("DependsOn", [self.get_logical_id(policy.node.default_child)])
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Python 3.12 is pinned on purpose: the AWS-managed numpy (AWS SDK for pandas) and Powertools layers "
            "are pinned for python3.12 in stacks/layers.py, and the code is tested on 3.11 and 3.12.",
        )
        # Asynchronous invocations (the scheduler's): no retry of a failed run, failures to the dead-letter queue.
        self.invoke_config = lambda_.CfnEventInvokeConfig(
            self,
            "FailedRuns",
            function_name=self.function.function_name,
            qualifier="$LATEST",
            maximum_retry_attempts=0,
            maximum_event_age_in_seconds=60,
            destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
                on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(destination=self.dead_letters.queue_arn)
            ),
        )
        self.invoke_config.node.add_dependency(policy)

        self.scheduler_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": self.account}}
            ),
            description=f"RL autoscaler {config.name}: EventBridge Scheduler invokes the controller",
        )
        schedule_policy = iam.Policy(
            self,
            "SchedulePolicy",
            statements=[
                allow("InvokeController", ["lambda:InvokeFunction"], [self.function.function_arn]),
                send_messages("DeadLetterUndelivered", self.dead_letters.queue_arn),
                use_key("EncryptDeadLetters", key.key_arn),
            ],
        )
        schedule_policy.attach_to_role(self.scheduler_role)
        self.schedule = scheduler.CfnSchedule(
            self,
            "EveryMinute",
            name=config.controller_function_name,
            description=f"RL autoscaler {config.name}: one controller run per minute",
            schedule_expression="rate(1 minute)",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.function.function_arn,
                role_arn=self.scheduler_role.role_arn,
                input=json.dumps(
                    {
                        "source": "aws.scheduler",
                        "detail-type": "Scheduled Event",
                        "time": "<aws.scheduler.scheduled-time>",
                        "id": "<aws.scheduler.execution-id>",
                        "attempt": "<aws.scheduler.attempt-number>",
                    }
                ),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=60, maximum_retry_attempts=2
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=self.dead_letters.queue_arn),
            ),
        )
        self.schedule.node.add_dependency(schedule_policy, self.invoke_config)
        # The stack's removal hands every fleet back: this resource's Delete invokes the function (controller/
        # handback.py). The schedule depends on it, so the schedule goes first and no run takes a fleet again.
        self.hand_back = cdk.CustomResource(
            self, "HandBackOnRemoval", service_token=self.function.function_arn, resource_type="Custom::HandBack"
        )
        self.hand_back.node.add_dependency(policy)
        self.schedule.node.add_dependency(self.hand_back)

        cdk.CfnOutput(self, "FunctionName", value=self.function.function_name)
        cdk.CfnOutput(self, "ModesParameter", value=self.modes.parameter_name)
        cdk.CfnOutput(self, "DeadLetterQueueUrl", value=self.dead_letters.queue_url)

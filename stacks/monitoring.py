"""Monitoring stack: the alarm topic, the alarms and the one dashboard an on-call engineer reads.

Plain aws_cloudwatch rather than cdk-monitoring-constructs: SageMaker endpoints have no monitor there (everything
would be custom metric groups anyway), latency needs math expressions (microseconds shown as milliseconds),
and one dependency less keeps synth faster. The alarms measure the endpoint by its stable name, so this stack
deploys before the serving stack, which uses three of them as blue/green rollback alarms.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.config import StageConfig
from stacks.dashboard import build_dashboard
from stacks.metrics import EndpointDecisionMetrics, EndpointMetrics
from stacks.monitoring_controller import ONE_DATAPOINT, controller_alarms, no_invocations_expression
from stacks.monitoring_endpoint import PER_WINDOW, endpoint_alarms
from stacks.stage_stack import StageProps, StageStack
from stacks.training import TrainingStack

ROLLBACK_ALARMS = ("5xx-rate", "model-latency-p99", "fallback-rate")
"""Alarms that roll back a blue/green endpoint update: the health of the new fleet, not of its callers.

The 5XX and fallback alarms sum their window (alarms.evaluation_minutes) into one datapoint and alarm on one
breaching window: the controller calls once a minute and SageMaker routes each call to the canary or to the old
fleet, so per-minute "3 of 5" rules would miss a broken canary that got fewer than 3 of the calls (a quarter of the
bakes with a canary of half the fleet). A window without any call is no data, which counts as breaching: a canary
that nobody calls, or whose metrics never arrive, must not pass its bake by construction."""


def alarm_name(config: StageConfig, alarm_id: str) -> str:
    """Stable alarm names: on-call reads them, and the serving stack names its rollback alarms without
    cross-stack references."""
    return f"{config.endpoint_name}-{alarm_id}"


class MonitoringStack(StageStack):
    DESCRIPTION = "alarm topic, alarms and dashboard"

    def __init__(self, scope: Construct, construct_id: str, props: StageProps, *, training: TrainingStack) -> None:
        super().__init__(scope, construct_id, props)
        config = self.config
        limits = config.alarms
        self.endpoint = EndpointMetrics(config.endpoint_name, config.variant_name)
        self.decisions = EndpointDecisionMetrics(config.name)
        self.dashboard_name = config.endpoint_name

        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"RL autoscaler {config.name} alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        actions = [cw_actions.SnsAction(self.topic)]
        for i, who in enumerate(config.alarm_subscribers):
            if who.startswith("arn:"):  # an existing topic (e.g. AWS Chatbot's): alarms publish there too
                actions.append(cw_actions.SnsAction(sns.Topic.from_topic_arn(self, f"Subscriber{i}", who)))
            elif who.startswith("ssm:"):  # resolved by CloudFormation at deploy; a missing parameter fails it
                self.topic.add_subscription(
                    subscriptions.EmailSubscription(f"{{{{resolve:ssm:{who.removeprefix('ssm:')}}}}}")
                )
            else:
                self.topic.add_subscription(subscriptions.EmailSubscription(who))
        if not config.alarm_subscribers:
            cdk.Annotations.of(self).add_warning_v2(
                "rl-autoscaler:no-alarm-subscribers",
                f"Stage {config.name} has no alarm_subscribers: its alarms reach nobody (allowed in {config.name} "
                "only; Staging and Prod refuse to synth without one).",
            )

        def alarm(
            construct_id: str, metric: cw.IMetric, threshold: float, description: str, **options: Any
        ) -> cw.Alarm:
            options.setdefault("evaluation_periods", limits.evaluation_minutes)
            options.setdefault("datapoints_to_alarm", limits.datapoints_to_alarm)
            options.setdefault("treat_missing_data", cw.TreatMissingData.NOT_BREACHING)
            options.setdefault("comparison_operator", cw.ComparisonOperator.GREATER_THAN_THRESHOLD)
            created = cw.Alarm(
                self,
                construct_id,
                alarm_name=alarm_name(config, construct_id),
                metric=metric,
                threshold=threshold,
                alarm_description=description,
                **options,
            )
            created.add_alarm_action(*actions)
            created.add_ok_action(*actions)
            return created

        endpoint = config.endpoint_name
        self.endpoint_alarms = endpoint_alarms(config, alarm, self.endpoint, self.decisions)
        self.no_invocations = alarm(
            "no-invocations",
            no_invocations_expression(config),
            1,
            f"The controller stopped asking endpoint {endpoint}: in the last {limits.no_invocations_minutes} minutes "
            f"either the controller {config.controller_function_name} reported no run, or fleets were deciding "
            "(FleetsDeciding > 0) and the endpoint received no call. A stage with no fleet, or with every fleet off, "
            "does not alarm. Fleets are held by the fallback rule or not scaled at all. First: check the "
            "controller-not-running and controller-errors alarms and the function's log group "
            f"/aws/lambda/{config.controller_function_name} (an AccessDenied on sagemaker:InvokeEndpoint, or a "
            "schedule that was disabled).",
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            **PER_WINDOW,
        )
        self.controller_alarms = controller_alarms(config, alarm)
        machine = training.state_machine
        self.training_failed = alarm(
            "training-failed",
            cw.MathExpression(
                expression="FILL(failed, 0) + FILL(timedout, 0)",
                using_metrics={"failed": machine.metric_failed(), "timedout": machine.metric_timed_out()},
                label="Training executions failed or timed out",
                period=cdk.Duration.minutes(5),
            ),
            0,
            "A training run (Step Functions execution of the training job) failed or timed out; no new policy "
            "comes out of it, the endpoint keeps serving the current one. First: open the failed execution in "
            "the Step Functions console; its TrainingFailed state names the SageMaker job, whose logs are in "
            "/aws/sagemaker/TrainingJobs.",
            **ONE_DATAPOINT,
        )
        self.alarms = [
            *self.endpoint_alarms.values(),
            self.no_invocations,
            self.training_failed,
            *self.controller_alarms,
        ]
        self.rollback_alarms = [self.endpoint_alarms[alarm_id] for alarm_id in ROLLBACK_ALARMS]

        # The alarm widget names the alarms by their stable ARNs rather than by GetAtt (which moto, the local
        # emulator of the deploy rehearsal, cannot resolve for alarms); the dependency keeps the order.
        by_name = [
            cw.Alarm.from_alarm_name(self, f"{a.node.id}-by-name", alarm_name(config, a.node.id)) for a in self.alarms
        ]
        self.dashboard = build_dashboard(
            self, config=config, endpoint=self.endpoint, state_machine=machine, alarms=by_name
        )
        self.dashboard.node.add_dependency(*self.alarms)
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.topic.topic_arn)
        cdk.CfnOutput(self, "DashboardName", value=self.dashboard_name)

"""Monitoring stack: the alarm topic, the alarms and the one dashboard an on-call engineer reads.

Plain aws_cloudwatch rather than cdk-monitoring-constructs: SageMaker endpoints have no monitor there (everything
would be custom metric groups anyway), latency needs math expressions (microseconds shown as milliseconds),
and one dependency less keeps synth faster. The alarms measure the endpoint by its stable name, so this stack
deploys before the serving stack, which uses two of them as blue/green rollback alarms.
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
from stacks.monitoring_controller import controller_alarms, no_invocations_expression
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
        first_look = f"Open the {self.dashboard_name} dashboard"

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

        def window_alarm(construct_id: str, metric: cw.IMetric, threshold: float, description: str) -> cw.Alarm:
            """One datapoint per window, no data breaching: a rollback alarm an uncalled canary cannot pass."""
            return alarm(
                construct_id,
                metric,
                threshold,
                description,
                treat_missing_data=cw.TreatMissingData.BREACHING,
                evaluation_periods=1,
                datapoints_to_alarm=1,
            )

        endpoint = config.endpoint_name
        window = cdk.Duration.minutes(limits.evaluation_minutes)
        self.error_5xx = window_alarm(
            "5xx-rate",
            self.endpoint.error_rate("5XX", window),
            limits.error_5xx_percent,
            f"More than {limits.error_5xx_percent}% of calls to endpoint {endpoint} fail with 5XX over "
            f"{limits.evaluation_minutes} minutes: the model container errs, so the fleet gets no scaling "
            "decisions. During a blue/green update this alarm rolls the update back. No data counts as breaching "
            f"(no invocation in {limits.evaluation_minutes} minutes: a canary nobody calls cannot pass). "
            f"First: {first_look}; read /aws/sagemaker/Endpoints/{endpoint} logs for tracebacks; if there is no "
            "traffic at all, check the controller (every fleet off, or not running).",
        )
        self.error_4xx = alarm(
            "4xx-rate",
            self.endpoint.error_rate("4XX"),
            limits.error_4xx_percent,
            f"More than {limits.error_4xx_percent}% of calls to {endpoint} are rejected as bad input (4XX): a caller "
            "sends requests that break the decision contract. First: find the caller that changed; the 4XX body "
            "names the offending field (see the endpoint logs).",
        )
        self.model_latency = alarm(
            "model-latency-p99",
            self.endpoint.latency_ms("ModelLatency", "p99"),
            limits.model_latency_p99_ms,
            f"p99 model latency of {endpoint} is above {limits.model_latency_p99_ms} ms: decisions arrive late. "
            "During a blue/green update this alarm rolls the update back. First: check CPU and instance count on "
            f"the dashboard; if CPU is high, raise max_instances for stage {config.name}.",
        )
        self.fallback_rate = window_alarm(
            "fallback-rate",
            self.decisions.share("Fallbacks", window),
            limits.fallback_percent,
            f"More than {limits.fallback_percent}% of the decisions of endpoint {endpoint} came from the shield's "
            "fallback rule over "
            f"{limits.evaluation_minutes} minutes: the policy network failed or returned NaN/inf, and the endpoint "
            "still answers HTTP 200 (a broken model). During a blue/green update this alarm rolls the update back; "
            f"no data (no decision in {limits.evaluation_minutes} minutes) counts as breaching. First: {first_look}; "
            "search the endpoint logs for 'policy forward pass failed' and compare model_version with the last good "
            "one; redeploy the previous artifact.",
        )
        self.shield_override_rate = alarm(
            "shield-override-rate",
            self.decisions.share("ShieldOverrides"),
            limits.shield_override_percent,
            f"The shield overrode more than {limits.shield_override_percent}% of the policy's decisions on "
            f"{endpoint}: the load is outside what the policy was trained on, or the policy scales against the "
            "load. Fleets are kept safe by the shield, not by the policy. First: compare LoadRPM on the dashboard "
            "with the training range (docs/serving.md, the shield); retrain on recent load if it moved.",
        )
        self.overhead_latency = alarm(
            "overhead-latency-p99",
            self.endpoint.latency_ms("OverheadLatency", "p99"),
            limits.overhead_latency_p99_ms,
            f"p99 SageMaker overhead latency of {endpoint} is above {limits.overhead_latency_p99_ms} ms: time is "
            "spent outside the model (request handling, payload size). First: check request sizes (batches) and "
            "the AWS Health Dashboard for SageMaker in eu-west-1.",
        )
        self.cpu = alarm(
            "cpu",
            self.endpoint.utilization("CPUUtilization"),
            limits.cpu_percent,
            f"Average CPUUtilization of {endpoint} instances is above {limits.cpu_percent} (summed over vCPUs: "
            "100 per busy vCPU). Auto scaling should add instances. First: check the instance count on the "
            "dashboard; if it sits at max_instances, raise max_instances.",
        )
        self.memory = alarm(
            "memory",
            self.endpoint.utilization("MemoryUtilization"),
            limits.memory_percent,
            f"Memory use of {endpoint} instances is above {limits.memory_percent}%: workers may be killed. "
            "First: look for a growing trend since the last deployment (a leak) and roll back to the previous "
            "model if so.",
        )
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
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=cw.TreatMissingData.BREACHING,
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
            evaluation_periods=1,
            datapoints_to_alarm=1,
        )
        self.alarms = [
            self.error_5xx,
            self.error_4xx,
            self.model_latency,
            self.fallback_rate,
            self.shield_override_rate,
            self.overhead_latency,
            self.cpu,
            self.memory,
            self.no_invocations,
            self.training_failed,
            *self.controller_alarms,
        ]
        self.rollback_alarms = [self.node.find_child(alarm_id) for alarm_id in ROLLBACK_ALARMS]

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

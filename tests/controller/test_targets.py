"""The real-target adapters: ECS, Auto Scaling and Application Auto Scaling against moto, SageMaker with a Stubber."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from controller.aws import Clients
from controller.config import parse_fleets
from controller.targets import REGISTRY, FleetState, TargetError, adapter_class, build_adapters
from controller.targets.asg import AsgTarget
from controller.targets.ecs import EcsTarget
from controller.targets.sagemaker import SageMakerTarget
from tests.controller.fakes import put_ecs_cpu_tracking

REGION = "eu-west-1"
METRIC = {"namespace": "AWS/ApplicationELB", "metric_name": "RequestCount", "dimensions": {"LoadBalancer": "app/x/1"}}


def fleets(*targets: dict[str, Any]):
    spec = [
        {
            "name": f"f{i}",
            "capacity_rpm_per_machine": 300,
            "min_machines": 1,
            "max_machines": 50,
            "max_change_per_minute": 10,
            "requests": METRIC,
            "target": t,
        }
        for i, t in enumerate(targets)
    ]
    return parse_fleets(spec, "Test")


@pytest.fixture()
def aws():
    with mock_aws():
        services = ("ecs", "ec2", "autoscaling", "application-autoscaling", "cloudwatch")
        yield Clients(overrides={s: boto3.client(s, region_name=REGION) for s in services})


def test_registry_knows_every_kind_of_the_schema() -> None:
    from controller.config import TARGET_FIELDS

    assert set(REGISTRY) == set(TARGET_FIELDS)
    for kind in REGISTRY:
        assert adapter_class(kind).kind == kind
    with pytest.raises(KeyError, match="known: asg, ecs, sagemaker, simulated"):
        adapter_class("ecss")


def test_build_adapters_only_for_kinds_in_use(aws: Clients) -> None:
    built = build_adapters(fleets({"kind": "ecs", "cluster": "c", "service": "s"}), aws)
    assert list(built) == ["ecs"] and isinstance(built["ecs"], EcsTarget)


# -- ECS ------------------------------------------------------------------------------------------------------


def _ecs_services(aws: Clients, cluster: str, names: list[str], desired: int = 3) -> None:
    ecs = aws.get("ecs")
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "nginx", "memory": 128}])
    for name in names:
        ecs.create_service(cluster=cluster, serviceName=name, taskDefinition="web", desiredCount=desired)


def test_ecs_reads_in_batches_of_ten_and_names_missing_services(aws: Clients) -> None:
    names = [f"svc{i:02d}" for i in range(12)]
    _ecs_services(aws, "prod", names)
    targets = [{"kind": "ecs", "cluster": "prod", "service": n} for n in [*names, "gone"]]
    fs = fleets(*targets)
    adapter = EcsTarget(aws)
    calls = []
    aws.get("ecs").meta.events.register("before-call.ecs.DescribeServices", lambda **kw: calls.append(1))
    states = adapter.read(fs)
    assert len(calls) == 2  # 13 services: 10 + 3
    assert states["f0"] == FleetState(serving=states["f0"].serving, warming=states["f0"].warming, desired=3)
    assert isinstance(states["f12"], TargetError) and "prod/gone" in str(states["f12"])


def test_ecs_apply_sets_desired_count_once(aws: Clients) -> None:
    _ecs_services(aws, "prod", ["web"])
    (f,) = fleets({"kind": "ecs", "cluster": "prod", "service": "web"})
    adapter = EcsTarget(aws)
    adapter.read([f])
    calls = []
    aws.get("ecs").meta.events.register("before-call.ecs.UpdateService", lambda **kw: calls.append(1))
    adapter.apply(f, 7)
    adapter.apply(f, 7)  # idempotent: the second changes nothing and makes no call
    assert len(calls) == 1
    assert adapter.read([f])["f0"].desired == 7


def test_ecs_conflict_is_an_application_auto_scaling_policy(aws: Clients) -> None:
    _ecs_services(aws, "prod", ["web", "api", "quiet"])
    fs = fleets(*[{"kind": "ecs", "cluster": "prod", "service": n} for n in ("web", "api", "quiet")])
    aas = aws.get("application-autoscaling")
    for name in ("web", "quiet"):
        aas.register_scalable_target(
            ServiceNamespace="ecs", ResourceId=f"service/prod/{name}", ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=1, MaxCapacity=10,
        )  # fmt: skip
    put_ecs_cpu_tracking(aas)
    found = EcsTarget(aws).conflicts(fs)
    assert list(found) == ["f0"]  # a scalable target without a policy ("quiet") scales nothing
    assert "cpu50 (TargetTrackingScaling)" in found["f0"] and "service/prod/web" in found["f0"]


# -- Auto Scaling groups ----------------------------------------------------------------------------------------


def _groups(aws: Clients, names: list[str], desired: int = 2) -> None:
    ec2 = aws.get("ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName="web-lt", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
    )
    for name in names:
        aws.get("autoscaling").create_auto_scaling_group(
            AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": "web-lt"}, MinSize=0, MaxSize=50,
            DesiredCapacity=desired, AvailabilityZones=[f"{REGION}a"],
        )  # fmt: skip


def test_asg_reads_serving_and_warming_instances(aws: Clients) -> None:
    _groups(aws, ["web", "api"], desired=2)
    fs = fleets({"kind": "asg", "group": "web"}, {"kind": "asg", "group": "api"}, {"kind": "asg", "group": "nope"})
    states = AsgTarget(aws).read(fs)
    assert states["f0"] == FleetState(serving=2, warming=0, desired=2, lowest=0, highest=50)
    assert states["f1"].desired == 2
    assert isinstance(states["f2"], TargetError) and "nope" in str(states["f2"])


def test_asg_counts_pending_instances_as_warming() -> None:
    states = ("InService", "InService", "Pending", "Pending:Wait", "Terminating")
    instances = [
        {"InstanceId": f"i-{k}", "AvailabilityZone": f"{REGION}a", "LifecycleState": state, "HealthStatus": "Healthy",
         "ProtectedFromScaleIn": False}
        for k, state in enumerate(states)
    ]  # fmt: skip
    group = {
        "AutoScalingGroupName": "web", "DesiredCapacity": 5, "MinSize": 0, "MaxSize": 9, "DefaultCooldown": 300,
        "AvailabilityZones": [f"{REGION}a"], "HealthCheckType": "EC2", "CreatedTime": datetime(2026, 1, 1),
        "Instances": instances,
    }  # fmt: skip
    client = boto3.client("autoscaling", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("describe_auto_scaling_groups", {"AutoScalingGroups": [group]})
        states = AsgTarget(Clients(overrides={"autoscaling": client})).read(fleets({"kind": "asg", "group": "web"}))
    assert states["f0"] == FleetState(serving=2, warming=2, desired=5, lowest=0, highest=9)


def test_asg_apply_without_cooldown(aws: Clients) -> None:
    _groups(aws, ["web"])
    (f,) = fleets({"kind": "asg", "group": "web"})
    adapter = AsgTarget(aws)
    adapter.read([f])
    seen: list[dict[str, Any]] = []
    aws.get("autoscaling").meta.events.register(
        "provide-client-params.autoscaling.SetDesiredCapacity", lambda params, **kw: seen.append(dict(params))
    )
    adapter.apply(f, 6)
    adapter.apply(f, 6)
    assert seen == [{"AutoScalingGroupName": "web", "DesiredCapacity": 6, "HonorCooldown": False}]
    assert adapter.read([f])["f0"].desired == 6


def test_asg_conflicts_are_the_groups_own_policies(aws: Clients) -> None:
    _groups(aws, ["web", "api", "plain"])
    autoscaling = aws.get("autoscaling")
    autoscaling.put_scaling_policy(
        AutoScalingGroupName="web", PolicyName="cpu", PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 50.0,
        },
    )  # fmt: skip
    autoscaling.put_scaling_policy(
        AutoScalingGroupName="api", PolicyName="step", PolicyType="SimpleScaling", AdjustmentType="ChangeInCapacity",
        ScalingAdjustment=1,
    )  # fmt: skip
    autoscaling.suspend_processes(AutoScalingGroupName="api", ScalingProcesses=["AlarmNotification"])
    fs = fleets(*[{"kind": "asg", "group": g} for g in ("web", "api", "plain")])
    found = AsgTarget(aws).conflicts(fs)
    assert list(found) == ["f0"] and "cpu (TargetTrackingScaling)" in found["f0"]


def test_asg_forecast_only_predictive_policy_is_no_conflict() -> None:
    from controller.targets.asg import _scales

    predictive = {"PolicyType": "PredictiveScaling", "PredictiveScalingConfiguration": {"Mode": "ForecastOnly"}}
    assert not _scales(predictive, alarms_suspended=False)
    predictive["PredictiveScalingConfiguration"]["Mode"] = "ForecastAndScale"
    assert _scales(predictive, alarms_suspended=True)
    assert not _scales({"PolicyType": "StepScaling", "Enabled": False}, alarms_suspended=False)


# -- SageMaker variants (moto does not model instance counts: a Stubber) -------------------------------------------


def _endpoint(status: str, variants: list[tuple[str, int, int]]) -> dict[str, Any]:
    now = datetime(2026, 11, 2, tzinfo=UTC)
    return {
        "EndpointName": "shop", "EndpointArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/shop",
        "EndpointConfigName": "cfg", "EndpointStatus": status, "CreationTime": now, "LastModifiedTime": now,
        "ProductionVariants": [
            {"VariantName": v, "CurrentInstanceCount": cur, "DesiredInstanceCount": want} for v, cur, want in variants
        ],
    }  # fmt: skip


def _sagemaker():
    client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    return client, Clients(overrides={"sagemaker": client})


def test_sagemaker_reads_one_describe_per_endpoint() -> None:
    client, clients = _sagemaker()
    fs = fleets(
        {"kind": "sagemaker", "endpoint": "shop", "variant": "a"},
        {"kind": "sagemaker", "endpoint": "shop", "variant": "b"},
        {"kind": "sagemaker", "endpoint": "shop", "variant": "zz"},
    )
    with Stubber(client) as stub:
        stub.add_response(
            "describe_endpoint", _endpoint("Updating", [("a", 2, 5), ("b", 3, 3)]), {"EndpointName": "shop"}
        )
        states = SageMakerTarget(clients).read(fs)
        stub.assert_no_pending_responses()
    assert states["f0"] == FleetState(serving=2, warming=3, desired=5)
    assert states["f1"] == FleetState(serving=3, warming=0, desired=3)
    assert isinstance(states["f2"], TargetError) and "no such variant" in str(states["f2"])


def test_sagemaker_apply_updates_the_variant_and_waits_out_an_update() -> None:
    client, clients = _sagemaker()
    (f,) = fleets({"kind": "sagemaker", "endpoint": "shop", "variant": "a"})
    adapter = SageMakerTarget(clients)
    with Stubber(client) as stub:
        stub.add_response("describe_endpoint", _endpoint("InService", [("a", 2, 2)]), {"EndpointName": "shop"})
        stub.add_response(
            "update_endpoint_weights_and_capacities",
            {"EndpointArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/shop"},
            {"EndpointName": "shop", "DesiredWeightsAndCapacities": [{"VariantName": "a", "DesiredInstanceCount": 4}]},
        )
        adapter.read([f])
        adapter.apply(f, 2)  # already 2: no call
        adapter.apply(f, 4)
        stub.add_response("describe_endpoint", _endpoint("Updating", [("a", 2, 4)]), {"EndpointName": "shop"})
        assert adapter.read([f])["f0"] == FleetState(serving=2, warming=2, desired=4)
        with pytest.raises(TargetError, match="updating"):
            adapter.apply(f, 6)
        stub.assert_no_pending_responses()


def test_sagemaker_conflict_is_a_variant_scaling_policy(aws: Clients) -> None:
    aas = aws.get("application-autoscaling")
    rid = "endpoint/shop/variant/a"
    aas.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1, MaxCapacity=4,
    )  # fmt: skip
    aas.put_scaling_policy(
        PolicyName="invocations", ServiceNamespace="sagemaker", ResourceId=rid,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount", PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 100.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        },
    )  # fmt: skip
    fs = fleets(
        {"kind": "sagemaker", "endpoint": "shop", "variant": "a"},
        {"kind": "sagemaker", "endpoint": "shop", "variant": "b"},
    )
    found = SageMakerTarget(aws).conflicts(fs)
    assert list(found) == ["f0"] and "invocations" in found["f0"]


def test_a_count_beyond_the_groups_own_max_is_clamped_with_a_reason_not_refused(aws: Clients) -> None:
    """The fleet allows 50, the group only 4: the run sets 4 and says why (AWS would refuse 5, an ApplyError)."""
    from tests.controller.fakes import World

    _groups(aws, ["web"], desired=2)
    aws.get("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=4)
    import dataclasses

    world = World([dataclasses.replace(f, mode="active") for f in fleets({"kind": "asg", "group": "web"})])
    world.deps.adapters = {"asg": AsgTarget(aws)}
    world.fill("f0", 1000)  # the fake policy asks 13 machines of 300 rpm
    report = world.step()
    fr = report.fleets["f0"]
    assert (fr.limited, fr.applied, fr.apply_error) == (4, 4, None)
    assert "clamped to the target's own maximum 4" in fr.reason
    assert (
        aws.get("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0][
            "DesiredCapacity"
        ]
        == 4
    )

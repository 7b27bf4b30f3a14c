"""Training stack: role scoped to its prefixes and key, code asset, and the Step Functions job definition."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stacks.images import training_image
from stacks.training_task import TRAINING_LOG_FIELDS, metric_definitions
from tests.infra.helpers import STAGES, Synthesised, joined, only, resources, state_machine_definition

SAMPLE = (
    "train_iteration iter=12 timesteps=245760 episode_return=1234.5 profit_vs_oracle=0.873 entropy=1.234 "
    "kl=0.0123 steps_per_s=21000.5"
)
SAMPLE_VALUES = {
    "iter": "12",
    "timesteps": "245760",
    "episode_return": "1234.5",
    "profit_vs_oracle": "0.873",
    "entropy": "1.234",
    "kl": "0.0123",
    "steps_per_s": "21000.5",
}


def _train(app: Synthesised, stage: str) -> dict:
    return state_machine_definition(app.template(stage, "Training"))["States"]["Train"]


def _policy_statements(app: Synthesised, stage: str, name: str) -> list[dict]:
    policies = resources(app.template(stage, "Training"), "AWS::IAM::Policy")
    (policy,) = [p for logical_id, p in policies.items() if logical_id.startswith(name)]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_metric_regexes_parse_the_training_log_line() -> None:
    for definition in metric_definitions():
        field = definition.name.removeprefix("train:")
        match = re.search(definition.regex, SAMPLE)
        assert match and match.group(1) == SAMPLE_VALUES[field], definition.regex
        assert re.compile(definition.regex).groups == 1


def test_metric_regexes_read_negative_and_exponent_values() -> None:
    line = (
        "train_iteration iter=3 timesteps=1e+06 episode_return=-12.5 profit_vs_oracle=-0.25 entropy=1.2e-05 "
        "kl=-3E-4 steps_per_s=9.5e3"
    )
    values = {d.name.removeprefix("train:"): float(re.search(d.regex, line).group(1)) for d in metric_definitions()}
    assert values == {
        "iter": 3,
        "timesteps": 1e6,
        "episode_return": -12.5,
        "profit_vs_oracle": -0.25,
        "entropy": 1.2e-5,
        "kl": -3e-4,
        "steps_per_s": 9500,
    }
    assert all(re.search(d.regex, "iteration done, kl=0.1") is None for d in metric_definitions())


def test_metric_regexes_parse_what_the_training_code_prints() -> None:
    from training.rl.curves import LOG_FIELDS, log_line

    assert tuple(LOG_FIELDS) == TRAINING_LOG_FIELDS
    row = {"iter": 7, "timesteps": 70000, "episode_return": -3.25e-7, "profit_vs_oracle": 0.91, "entropy": 1.5}
    row |= {"kl": 0.002, "steps_per_s": 18000.25}
    line = log_line(row)
    for definition in metric_definitions():
        field = definition.name.removeprefix("train:")
        assert float(re.search(definition.regex, line).group(1)) == pytest.approx(row[field], rel=1e-5)


@pytest.mark.parametrize("stage", STAGES)
def test_training_task_runs_the_job_to_completion_on_the_pinned_image(app: Synthesised, stage: str) -> None:
    train = _train(app, stage)
    assert train["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")
    spec = train["Parameters"]["AlgorithmSpecification"]
    assert (
        spec["TrainingImage"]
        == training_image()
        == ("763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch:2.13-cpu-amzn2023-sagemaker")
    )
    assert {d["Name"]: d["Regex"] for d in spec["MetricDefinitions"]} == {d.name: d.regex for d in metric_definitions()}


@pytest.mark.parametrize("stage", STAGES)
def test_hyperparameters_point_at_the_entry_point_and_the_code_asset(app: Synthesised, stage: str) -> None:
    hps = _train(app, stage)["Parameters"]["HyperParameters"]
    config = app.stages[stage].config.training
    assert hps["sagemaker_program"] == "training/sagemaker_entry.py"
    assert re.fullmatch(
        r"<Sub:s3://cdk-hnb659fds-assets-\$\{AWS::AccountId\}-eu-west-1/[0-9a-f]{64}\.gz>",
        hps["sagemaker_submit_directory"],
    )
    code = app.stack(stage, "Training").code
    assert code.asset_hash in hps["sagemaker_submit_directory"]
    assert hps["preset"] == config.preset and hps["seed"] == str(config.seed)


@pytest.mark.parametrize("stage", STAGES)
def test_checkpoints_spot_instances_and_timeouts(app: Synthesised, stage: str) -> None:
    config = app.stages[stage].config.training
    params = _train(app, stage)["Parameters"]
    checkpoint = params["CheckpointConfig"]
    assert checkpoint["LocalPath"] == "/opt/ml/checkpoints"
    assert checkpoint["S3Uri.$"] == (
        f"States.Format('s3://rl-autoscaler-{stage.lower()}-data-<Ref:AWS::AccountId>-eu-west-1/checkpoints/{{}}/', "
        "$.run.job_name)"
    )
    assert params["TrainingJobName.$"] == "$.run.job_name"
    assert params["EnableManagedSpotTraining"] is config.use_spot
    assert params["ResourceConfig"]["InstanceCount"] == config.instance_count
    assert params["ResourceConfig"]["InstanceType"] == config.instance_type
    stopping = params["StoppingCondition"]
    assert stopping["MaxRuntimeInSeconds"] == config.max_runtime_hours * 3600
    assert stopping.get("MaxWaitTimeInSeconds") == (config.max_wait_hours * 3600 if config.use_spot else None)
    definition = state_machine_definition(app.template(stage, "Training"))
    wait = stopping.get("MaxWaitTimeInSeconds", stopping["MaxRuntimeInSeconds"])
    assert _train(app, stage)["TimeoutSeconds"] > wait
    assert definition["TimeoutSeconds"] > _train(app, stage)["TimeoutSeconds"]
    assert params["OutputDataConfig"]["S3OutputPath"].endswith("-eu-west-1/training-output/")
    assert "KmsKeyId" in params["OutputDataConfig"] and "VolumeKmsKeyId" in params["ResourceConfig"]


def test_each_execution_names_its_job_once_and_failures_end_in_a_fail_state(app: Synthesised) -> None:
    definition = state_machine_definition(app.template("Dev", "Training"))
    assert definition["StartAt"] == "NameTrainingJob"
    name = definition["States"]["NameTrainingJob"]
    assert name["Parameters"] == {"job_name.$": "States.Format('dev-ppo-{}', States.UUID())"}
    (catch,) = definition["States"]["Train"]["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "TrainingFailed"
    assert definition["States"]["TrainingFailed"]["Type"] == "Fail"


@pytest.mark.parametrize("stage", STAGES)
def test_executions_are_logged_and_traced(app: Synthesised, stage: str) -> None:
    template = app.template(stage, "Training")
    machine = only(template, "AWS::StepFunctions::StateMachine")["Properties"]
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is True
    assert machine["TracingConfiguration"] == {"Enabled": True}
    groups = resources(template, "AWS::Logs::LogGroup")
    (log_group,) = [g for k, g in groups.items() if k.startswith("ExecutionLogs")]
    assert log_group["Properties"]["RetentionInDays"] == app.stages[stage].config.retention.log_retention_days
    assert log_group["Properties"]["LogGroupName"] == f"/aws/vendedlogs/states/rl-autoscaler-{stage.lower()}-training"
    assert log_group["Properties"]["KmsKeyId"]["Fn::GetStackOutput"]["StackName"] == f"{stage}-Storage"


def test_training_role_is_scoped_to_its_prefixes_key_and_image(app: Synthesised) -> None:
    roles = resources(app.template("Dev", "Training"), "AWS::IAM::Role")
    (role,) = [r for logical_id, r in roles.items() if logical_id.startswith("TrainingRole")]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    statements = {s["Sid"]: s for s in _policy_statements(app, "Dev", "TrainingPolicy")}
    objects = sorted(joined(r) for r in statements["ReadWriteCheckpointsAndOutput"]["Resource"])
    assert objects == [
        "arn:aws:s3:::rl-autoscaler-dev-data-<Ref:AWS::AccountId>-eu-west-1/checkpoints/*",
        "arn:aws:s3:::rl-autoscaler-dev-data-<Ref:AWS::AccountId>-eu-west-1/training-output/*",
    ]
    assert sorted(statements["ReadWriteCheckpointsAndOutput"]["Action"]) == [
        "s3:AbortMultipartUpload",
        "s3:GetObject",
        "s3:PutObject",
    ]
    assert statements["ListOwnPrefixes"]["Condition"] == {
        "StringLike": {"s3:prefix": ["checkpoints/*", "training-output/*", "ray/*", "team/*"]}
    }
    assert statements["ReadTeamData"]["Action"] == "s3:GetObject"
    assert joined(statements["ReadTeamData"]["Resource"]) == (
        "arn:aws:s3:::rl-autoscaler-dev-data-<Ref:AWS::AccountId>-eu-west-1/team/*"
    )
    assert joined(statements["ReadRayToken"]["Resource"]) == (
        "arn:aws:s3:::rl-autoscaler-dev-data-<Ref:AWS::AccountId>-eu-west-1/ray/auth_token"
    )
    assert joined(statements["ReadTrainingCode"]["Resource"]).endswith(".gz")
    assert statements["PullPinnedImage"]["Resource"] == "arn:aws:ecr:eu-west-1:763104351884:repository/pytorch"
    assert statements["UseStageKey"]["Resource"]["Fn::GetStackOutput"]["StackName"] == "Dev-Storage"
    assert statements["EncryptVolumesWithStageKey"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert not any(
        "*" in a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    # The role has no other policy: nothing the L2 task would have granted on its own (the others are the Ray
    # token writer's, a custom resource's own role, and the registration function's).
    policies = resources(app.template("Dev", "Training"), "AWS::IAM::Policy")
    assert sorted(k.rstrip("0123456789ABCDEF") for k in policies) == [
        "RayTokenPolicy",
        "RegistrationPolicy",
        "TrainingJobRoleDefaultPolicy",
        "TrainingPolicy",
    ]


def test_state_machine_may_pass_only_the_training_role_to_sagemaker(app: Synthesised) -> None:
    statements = _policy_statements(app, "Dev", "TrainingJobRoleDefaultPolicy")
    (passrole,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert passrole["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert passrole["Resource"]["Fn::GetAtt"][0].startswith("TrainingRole")


def test_training_entry_point_accepts_the_hyperparameters_the_job_passes(app: Synthesised) -> None:
    """The container passes hyperparameters as SM_HPS and as `--name value` flags (sagemaker-training toolkit)."""
    import json

    from training.cloud.sagemaker_env import SageMakerEnv
    from training.rl.train import parse_args, resolve_config

    hps = _train(app, "Prod")["Parameters"]["HyperParameters"]
    env = {
        "SM_MODEL_DIR": "/opt/ml/model",
        "SM_HPS": json.dumps(hps),
        "SM_HOSTS": json.dumps(["algo-1", "algo-2"]),
        "SM_CURRENT_HOST": "algo-2",
    }
    flags = [word for name, value in hps.items() if not name.startswith("sagemaker_") for word in (f"--{name}", value)]
    cfg = resolve_config(parse_args(flags), SageMakerEnv.from_environ(env))
    assert cfg.preset == "full" and cfg.seed == app.stages["Prod"].config.training.seed


@pytest.mark.parametrize("stage", STAGES)
def test_ray_token_reaches_every_host_as_a_channel_file_never_in_the_job_description(
    app: Synthesised, stage: str, tmp_path: Path
) -> None:
    """The token is no Environment value or hyperparameter (DescribeTrainingJob, execution history, logs show
    those): every host downloads the channel `ray` (the object ray/auth_token, written at deploy) and
    training/ray_cluster.py reads the file from it."""
    import json

    from training.cloud.ray_cluster import configure_auth
    from training.cloud.sagemaker_env import SageMakerEnv

    parameters = _train(app, stage)["Parameters"]
    env = parameters["Environment"]
    assert not any("RAY" in name or "TOKEN" in name for name in env), env
    assert env["AUTOSCALER_STAGE"] == stage
    assert "States.UUID()" not in json.dumps(parameters)
    (channel,) = parameters["InputDataConfig"]
    assert channel["ChannelName"] == "ray"
    source = channel["DataSource"]["S3DataSource"]
    assert source["S3Uri"] == f"s3://rl-autoscaler-{stage.lower()}-data-<Ref:AWS::AccountId>-eu-west-1/ray/"
    assert (source["S3DataType"], source["S3DataDistributionType"]) == ("S3Prefix", "FullyReplicated")
    writer = only(app.template(stage, "Training"), "Custom::StageFile")["Properties"]
    assert (writer["Action"], writer["Key"], writer["Generation"]) == ("RayToken", "ray/auth_token", "1")
    # What a second host of the job sees: SM_CHANNEL_RAY with the file, and no token in its environment.
    (tmp_path / "auth_token").write_text("0123abcd" * 8)
    host = {"SM_HOSTS": json.dumps(["algo-1", "algo-2"]), "SM_CURRENT_HOST": "algo-2", "SM_CHANNEL_RAY": str(tmp_path)}
    environ: dict[str, str] = {}
    assert configure_auth(SageMakerEnv.from_environ(host), environ) == "channel ray/auth_token"
    assert environ["RAY_AUTH_TOKEN_PATH"] == str(tmp_path / "auth_token") and "RAY_AUTH_TOKEN" not in environ


def test_an_input_naming_a_teams_trace_and_fleet_file_trains_on_them(app: Synthesised) -> None:
    """`{"team": {"trace": ..., "fleet": ...}}` in the execution's input: the same job with the channels `trace` and
    `fleet` (keys under team/ of the stage bucket), which training.train reads as --trace and --fleet."""
    states = state_machine_definition(app.template("Dev", "Training"))["States"]
    assert states["NameTrainingJob"]["Next"] == "TeamData"
    (when,) = states["TeamData"]["Choices"]
    assert when == {"Variable": "$.team", "IsPresent": True, "Next": "TrainOnTeamData"}
    assert states["TeamData"]["Default"] == "Train"
    plain, team = states["Train"], states["TrainOnTeamData"]
    assert plain["Next"] == team["Next"] == "RegisterModel"  # both runs are registered
    assert team["Catch"] == plain["Catch"]
    ray, *channels = team["Parameters"]["InputDataConfig"]
    assert ray == plain["Parameters"]["InputDataConfig"][0]
    assert [c["ChannelName"] for c in channels] == ["trace", "fleet"]
    bucket = "rl-autoscaler-dev-data-<Ref:AWS::AccountId>-eu-west-1"
    for c in channels:
        source = c["DataSource"]["S3DataSource"]
        assert source["S3Uri.$"] == f"States.Format('s3://{bucket}/team/{{}}', $.team.{c['ChannelName']})"
    rest = {k: v for k, v in team["Parameters"].items() if k != "InputDataConfig"}
    assert rest == {k: v for k, v in plain["Parameters"].items() if k != "InputDataConfig"}

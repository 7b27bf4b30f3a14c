#!/usr/bin/env python3
"""CDK app: one stage per environment (Dev, Staging, Prod) in eu-west-1, from the `stages` in cdk.json.

npx cdk synth                       # all stages
npx cdk deploy 'Dev/*'              # one stage
npx cdk synth -c stage=Dev -c model_artifact=artifacts/model/model.tar.gz
"""

import sys

import aws_cdk as cdk

from stacks.app import build
from stacks.artifact import ArtifactError
from stacks.config import StageConfigError
from stacks.controller_asset import ControllerPackageError

app = cdk.App()
try:
    build(app)
except (StageConfigError, ArtifactError, ControllerPackageError, FileNotFoundError) as error:
    sys.exit(f"synth stopped: {error}")
app.synth()

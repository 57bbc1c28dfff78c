"""Prints the CloudFormation template that SAM transforms template.yaml into, as `sam deploy` would have
CloudFormation do, offline: with the SAM translator of the pinned SAM CLI (run it with .venv/bin/python).
Conditions are not resolved, so every conditional resource is there. The functions' local CodeUri,
which `sam build` and `sam deploy` replace with an uploaded zip, is replaced by a stand-in S3 URI.

    AWS_DEFAULT_REGION=us-east-1 .venv/bin/python scripts/sam-transform.py template.yaml > transformed.json
"""

import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no AWS managed policy by name, so there is nothing to look up in IAM."""

    def load(self):
        return {}


def main(path):
    with open(path, encoding="utf-8") as source:
        template = yaml_parse(source.read())
    template.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://stand-in-bucket/function.zip"
    json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")

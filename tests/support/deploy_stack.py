#!/usr/bin/env python3
"""Deploys template.yaml into moto the way `sam deploy` would, and describes what was created.

The SAM translator that ships with the pinned SAM CLI turns the template into plain CloudFormation, which
moto's CloudFormation then creates: the functions' roles and policies, the functions, rules, topic and log
groups. Its output (JSON on stdout) is what the deployed-stack test runs the function binaries with: each
function's name, binary, role and environment as moto's Lambda holds them, and every policy of its role.

moto's CloudFormation cannot create the HTTP API (AWS::ApiGatewayV2::*) nor Lambda permissions; those
resources are left out and a `Ref` to one becomes a fixed stand-in. Three more of its quirks are worked
around here, never in the template: a `Ref` to a CommaDelimitedList parameter resolves to the bare string
(so such refs are replaced by the list CloudFormation would give); `AWS::NoValue` inside a list stays as
null (dropped from the policies it ends up in); and inline policies of the roles it creates break its own
GetAccountAuthorizationDetails until they are put back as JSON strings; and a `Ref` to an event bus it
creates resolves to its internal object instead of the bus name CloudFormation gives (so such refs are
replaced by the name). And moto's CloudFormation ignores an AWS::Events::EventBus's `Policy` property (it
creates the bus with no policy at all): each such policy is resolved here, for the parameters and the
stack's conditions, and put on the bus with PutPermission, as CloudFormation would have; the output's
`bus_policies` is what moto's DescribeEventBus then gives back.

With --member-account, the template (spoke.yaml) is deployed instead into a new member account of the
hub's organisation, as a service-managed StackSet would: moto's Organizations CreateAccount makes the
account (with a random id, which the output gives) and its OrganizationAccountAccessRole, trusted by the
management account. A StackSet acts in the member account through a service-linked role moto does not
create; that access role stands in for it, and the stack gets the name a StackSet gives its stack
instances. The organisation is created first when the hub has none. Every role a stack creates is
described with its policies and its trust policy.
"""

import argparse
import ast
import copy
import io
import json
import re
import sys
import time
import uuid
import zipfile

import boto3
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

NOT_CREATED_BY_MOTO = ("AWS::ApiGatewayV2::", "AWS::Lambda::Permission")
API_STAND_IN = "apistandin"
ACCOUNT = "123456789012"


def clients(endpoint):
    session = boto3.session.Session(
        aws_access_key_id="deployer", aws_secret_access_key="deployer", region_name="us-east-1"
    )
    return lambda service: session.client(service, endpoint_url=endpoint)


def upload_code(client):
    """`sam deploy` uploads each function's zip and points CodeUri at it; moto never runs it."""
    s3 = client("s3")
    s3.create_bucket(Bucket="sam-artifacts")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("bootstrap", "run by the test, not by moto")
    s3.put_object(Bucket="sam-artifacts", Key="function.zip", Body=archive.getvalue())
    return {"Bucket": "sam-artifacts", "Key": "function.zip"}


def replace(node, substitute):
    """Rebuilds `node`, replacing each sub-node for which `substitute` returns something."""
    replaced = substitute(node)
    if replaced is not None:
        return replaced
    if isinstance(node, dict):
        return {key: replace(value, substitute) for key, value in node.items()}
    if isinstance(node, list):
        return [replace(item, substitute) for item in node]
    return node


def without_nulls(node):
    if isinstance(node, dict):
        return {key: without_nulls(value) for key, value in node.items() if value is not None}
    if isinstance(node, list):
        return [without_nulls(item) for item in node if item is not None]
    return node


def work_around_moto(template, parameters):
    params = template.get("Parameters", {})
    lists = {
        name: parameters.get(name, spec.get("Default", "")).split(",")
        for name, spec in params.items()
        if spec.get("Type") == "CommaDelimitedList"
    }
    resources = template["Resources"]
    bus_names = {
        name: spec["Properties"]["Name"]
        for name, spec in resources.items()
        if spec["Type"] == "AWS::Events::EventBus"
    }
    left_out = {name for name, spec in resources.items() if spec["Type"].startswith(NOT_CREATED_BY_MOTO)}
    for name in left_out:
        del resources[name]

    def substitute(node):
        if isinstance(node, dict) and set(node) == {"Ref"}:
            if node["Ref"] in lists:
                return list(lists[node["Ref"]])
            if node["Ref"] in left_out:
                return API_STAND_IN
            if node["Ref"] in bus_names:
                return bus_names[node["Ref"]]
        if isinstance(node, dict) and set(node) == {"Fn::Sub"}:
            text, variables = (node["Fn::Sub"], None)
            if isinstance(text, list):
                text, variables = text
            for name in left_out:
                text = re.sub(r"\$\{" + re.escape(name) + r"(\.[A-Za-z.]+)?\}", API_STAND_IN, text)
            if text != (node["Fn::Sub"] if variables is None else node["Fn::Sub"][0]):
                return {"Fn::Sub": text if variables is None else [text, variables]}
        if isinstance(node, dict) and set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            target = target.split(".")[0] if isinstance(target, str) else target[0]
            if target in left_out:
                return API_STAND_IN
        return None

    for spec in resources.values():
        depends = spec.get("DependsOn")
        if isinstance(depends, str) and depends in left_out:
            del spec["DependsOn"]
        elif isinstance(depends, list):
            spec["DependsOn"] = [d for d in depends if d not in left_out]
    template["Resources"] = replace(resources, substitute)
    template["Outputs"] = {
        name: output
        for name, output in template.get("Outputs", {}).items()
        if output == replace(output, substitute)
    }
    return sorted(left_out)


def deploy(client, template, parameters, stack):
    cloudformation = client("cloudformation")
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    for _ in range(600):
        status = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if status.endswith("_COMPLETE") or status.endswith("_FAILED"):
            break
        time.sleep(0.1)
    if status != "CREATE_COMPLETE":
        events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
        reasons = [e.get("ResourceStatusReason") for e in events if e.get("ResourceStatusReason")]
        sys.exit(f"stack {stack}: {status}: {reasons}")
    return {
        r["LogicalResourceId"]: r
        for r in cloudformation.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    }


def role_policies(iam, role_name):
    """Every policy of the role, re-putting its inline ones as JSON strings without nulls (see above)."""
    policies = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            # moto keeps a template's inline policy as the text of a Python dict, not as JSON.
            document = ast.literal_eval(document)
        document = without_nulls(document)
        iam.put_role_policy(RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(document))
        policies.append({"name": name, "document": document})
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        policies.append({"name": attached["PolicyName"], "document": managed_policy(iam, policy)})
    return policies


def describe_role(iam, role_name):
    """A role's ARN, every policy of it (see role_policies) and its trust policy."""
    role = iam.get_role(RoleName=role_name)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        try:
            trust = json.loads(trust)
        except json.JSONDecodeError:
            trust = ast.literal_eval(trust)
    return {
        "name": role_name,
        "arn": role["Arn"],
        "policies": role_policies(iam, role_name),
        "trust": without_nulls(trust),
    }


def member_account(client, name):
    """The account of that name in the organisation the caller manages, made first if there is none, and
    clients acting in it (see above)."""
    organizations = client("organizations")
    try:
        organizations.describe_organization()
    except organizations.exceptions.AWSOrganizationsNotInUseException:
        organizations.create_organization(FeatureSet="ALL")
    existing = [a["Id"] for page in organizations.get_paginator("list_accounts").paginate()
                for a in page["Accounts"] if a["Name"] == name]
    if existing:
        return existing[0], acting_in(client, existing[0])
    created = organizations.create_account(Email=f"{name}@example.com", AccountName=name)
    status = created["CreateAccountStatus"]
    for _ in range(600):
        if status["State"] != "IN_PROGRESS":
            break
        time.sleep(0.1)
        status = organizations.describe_create_account_status(
            CreateAccountRequestId=status["Id"]
        )["CreateAccountStatus"]
    if status["State"] != "SUCCEEDED":
        sys.exit(f"account {name}: {status}")
    account = status["AccountId"]
    return account, acting_in(client, account)


def acting_in(client, account):
    """Clients acting in a member account through its OrganizationAccountAccessRole."""
    assumed = client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        RoleSessionName="stackset",
    )["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
        region_name="us-east-1",
    )
    endpoint = client("sts").meta.endpoint_url
    return lambda service: session.client(service, endpoint_url=endpoint)


def managed_policy(iam, policy):
    """A managed policy's document; the stack's own, like its inline ones, with the nulls dropped."""
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    document = version["PolicyVersion"]["Document"]
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            document = ast.literal_eval(document)
    return without_nulls(document)


def resource_arns(client, resources, account):
    """The ARN of each resource a principal could act on, read back from the service that holds it."""
    arns = {}
    buses = {
        bus["Name"]: bus["Arn"] for bus in client("events").list_event_buses().get("EventBuses", [])
    }
    rules = {
        rule["Name"]: rule["Arn"]
        for bus in buses
        for rule in client("events").list_rules(EventBusName=bus).get("Rules", [])
    }
    for name, resource in resources.items():
        kind, physical = resource["ResourceType"], resource["PhysicalResourceId"]
        if kind == "AWS::Lambda::Function":
            arns[name] = client("lambda").get_function_configuration(FunctionName=physical)["FunctionArn"]
        elif kind == "AWS::Events::Rule":
            arns[name] = rules[physical.rsplit("|", 1)[-1].rsplit("/", 1)[-1]]
        elif kind == "AWS::Events::EventBus":
            # moto gives the bus no physical id; the stack's bus is the one that is not the default.
            (arns[name],) = [arn for bus, arn in buses.items() if bus != "default"]
        elif kind == "AWS::Logs::LogGroup":
            arns[name] = f"arn:aws:logs:us-east-1:{account}:log-group:{physical}"
        elif kind == "AWS::SQS::Queue":
            attributes = client("sqs").get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])
            arns[name] = attributes["Attributes"]["QueueArn"]
        elif kind == "AWS::KMS::Key":
            # Not DescribeKey: moto keeps a template's key policy as a dict, which its KMS then fails on.
            arns[name] = f"arn:aws:kms:us-east-1:{account}:key/{physical}"
        elif kind == "AWS::CloudWatch::Alarm":
            alarms = client("cloudwatch").describe_alarms(AlarmNames=[physical])["MetricAlarms"]
            arns[name] = alarms[0]["AlarmArn"]
        elif kind == "AWS::IAM::Role":
            arns[name] = client("iam").get_role(RoleName=physical)["Role"]["Arn"]
        elif kind == "AWS::S3::Bucket":
            arns[name] = f"arn:aws:s3:::{physical}"
        elif kind == "AWS::CloudWatch::Dashboard":
            arns[name] = f"arn:aws:cloudwatch::{account}:dashboard/{physical}"
        elif kind == "AWS::Logs::ResourcePolicy":
            # CloudWatch Logs authorizes a resource policy's changes on "*" only.
            arns[name] = "*"
        elif kind in ("AWS::SNS::Topic", "AWS::IAM::ManagedPolicy", "AWS::StepFunctions::StateMachine"):
            arns[name] = physical
    return arns


class Resolver:
    """CloudFormation's intrinsic functions over plain values, for what moto's CloudFormation drops."""

    NO_VALUE = object()

    def __init__(self, template, parameters, pseudo):
        self.conditions = template.get("Conditions", {})
        self.values = dict(pseudo)
        for name, spec in template.get("Parameters", {}).items():
            value = parameters.get(name, spec.get("Default", ""))
            self.values[name] = value.split(",") if spec.get("Type") == "CommaDelimitedList" else value

    def condition(self, name):
        return bool(self.resolve(self.conditions[name]))

    def sub(self, text, variables):
        def value(match):
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            return str(variables[name] if name in variables else self.values[name])

        return re.sub(r"\$\{([^}]+)\}", value, text)

    def resolve(self, node):
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not self.NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (function, argument), = node.items()
            if function == "Ref":
                return self.NO_VALUE if argument == "AWS::NoValue" else self.values[argument]
            if function == "Condition":
                return self.condition(argument)
            if function == "Fn::If":
                condition, then, otherwise = argument
                return self.resolve(then if self.condition(condition) else otherwise)
            if function == "Fn::Sub":
                text, variables = argument if isinstance(argument, list) else (argument, {})
                return self.sub(text, {k: self.resolve(v) for k, v in variables.items()})
            if function == "Fn::Join":
                return argument[0].join(self.resolve(argument[1]))
            if function == "Fn::Split":
                return self.resolve(argument[1]).split(argument[0])
            if function == "Fn::Select":
                return self.resolve(argument[1])[int(self.resolve(argument[0]))]
            if function == "Fn::Equals":
                return self.resolve(argument[0]) == self.resolve(argument[1])
            if function == "Fn::Not":
                return not self.resolve(argument[0])
            if function == "Fn::And":
                return all(self.resolve(item) for item in argument)
            if function == "Fn::Or":
                return any(self.resolve(item) for item in argument)
            if function.startswith("Fn::"):
                sys.exit(f"deploy_stack.py does not resolve {function} in an event bus policy")
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not self.NO_VALUE}


def put_bus_policies(client, template, parameters, stack):
    """The `Policy` of each event bus the stack created, put on it as CloudFormation would (see above)."""
    account = client("sts").get_caller_identity()["Account"]
    pseudo = {
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::Region": "us-east-1",
        "AWS::StackName": stack,
        "AWS::URLSuffix": "amazonaws.com",
    }
    resolver = Resolver(template, parameters, pseudo)
    events = client("events")
    policies = {}
    for name, spec in template["Resources"].items():
        if spec["Type"] != "AWS::Events::EventBus":
            continue
        if "Condition" in spec and not resolver.condition(spec["Condition"]):
            continue
        properties = spec.get("Properties", {})
        bus = resolver.resolve(properties["Name"])
        if "Policy" in properties:
            policy = resolver.resolve(properties["Policy"])
            events.put_permission(EventBusName=bus, Policy=json.dumps(policy))
        described = events.describe_event_bus(Name=bus)
        policies[name] = {
            "name": bus,
            "arn": described["Arn"],
            "policy": json.loads(described["Policy"]) if described.get("Policy") else None,
        }
    return policies


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="moto server URL")
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--stack", default="iam-onboarding")
    parser.add_argument("--parameter", action="append", default=[], help="Name=Value")
    parser.add_argument(
        "--member-account",
        metavar="NAME",
        help="deploy into a new member account of this name, as a StackSet named --stack would",
    )
    parser.add_argument(
        "--account-only",
        action="store_true",
        help="with --member-account: only make the account (the hub's SpokeAccountIds needs its id before "
        "the spoke can be given the hub's roles), print its id and deploy nothing",
    )
    args = parser.parse_args()
    parameters = dict(p.split("=", 1) for p in args.parameter)
    client = clients(args.endpoint)
    account, stack = ACCOUNT, args.stack
    if args.member_account:
        account, client = member_account(client, args.member_account)
        if args.account_only:
            json.dump({"account_id": account}, sys.stdout)
            return
        stack = f"StackSet-{args.stack}-{uuid.uuid4()}"

    with open(args.template) as source:
        template = yaml_parse(source.read())
    functions = {
        name: spec["Metadata"]["BuildProperties"]["Binary"]
        for name, spec in template["Resources"].items()
        if spec["Type"] == "AWS::Serverless::Function"
    }
    if "Transform" in template:
        code = upload_code(client)
        template.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = code
        # What `sam deploy` leaves to CloudFormation's own transform; the loader reads AWS managed
        # policies, which moto has with MOTO_IAM_LOAD_MANAGED_POLICIES=true.
        template = transform(template, parameters, ManagedPolicyLoader(client("iam")))
    as_transformed = copy.deepcopy(template)
    left_out = work_around_moto(template, parameters)
    resources = deploy(client, template, parameters, stack)
    bus_policies = put_bus_policies(client, as_transformed, parameters, stack)

    iam, lambdas = client("iam"), client("lambda")
    roles = {
        name: describe_role(iam, r["PhysicalResourceId"])
        for name, r in resources.items()
        if r["ResourceType"] == "AWS::IAM::Role"
    }
    by_arn = {role["arn"]: role for role in roles.values()}
    described = {}
    for logical, binary in functions.items():
        name = resources[logical]["PhysicalResourceId"]
        configuration = lambdas.get_function_configuration(FunctionName=name)
        role = by_arn.get(configuration["Role"]) or describe_role(
            iam, configuration["Role"].rsplit("/", 1)[1]
        )
        described[logical] = {
            "name": name,
            "binary": binary,
            "role_arn": configuration["Role"],
            "environment": configuration.get("Environment", {}).get("Variables", {}),
            "policies": role["policies"],
        }
    managed_policies = {
        name: managed_policy(iam, iam.get_policy(PolicyArn=r["PhysicalResourceId"])["Policy"])
        for name, r in resources.items()
        if r["ResourceType"] == "AWS::IAM::ManagedPolicy"
    }
    arns = resource_arns(client, resources, account)
    described_stack = client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    stack_id = described_stack["StackId"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described_stack.get("Outputs", [])}
    json.dump(
        {
            "account_id": account,
            "stack_name": stack,
            "stack_id": stack_id,
            "outputs": outputs,
            "arns": arns,
            "managed_policies": managed_policies,
            "functions": described,
            "roles": roles,
            "resources": {name: r["PhysicalResourceId"] for name, r in resources.items()},
            "types": {name: r["ResourceType"] for name, r in resources.items()},
            "left_out": left_out,
            "bus_policies": bus_policies,
        },
        sys.stdout,
        indent=1,
    )


if __name__ == "__main__":
    main()

"""The AWS CLI against a real server, as the README shows it.

The CLI is a separate client from boto3 (its own argument parsing and
output); DynamoDB users script against it, so the README's commands are run
here as written, against the session's server.
"""

import json
import os
import subprocess
import sys

import pytest


def aws(server, *args, check=True):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="any", AWS_SECRET_ACCESS_KEY="any",
               AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
    proc = subprocess.run(
        [sys.executable, "-m", "awscli", "dynamodb", *args, "--endpoint-url", server.endpoint,
         "--output", "json"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def cli_table(server, table_name):
    aws(server, "create-table", "--table-name", table_name,
        "--key-schema", "AttributeName=artist,KeyType=HASH",
        "--attribute-definitions", "AttributeName=artist,AttributeType=S",
        "--billing-mode", "PAY_PER_REQUEST")
    yield table_name
    aws(server, "delete-table", "--table-name", table_name, check=False)


def test_aws_cli_put_get_list(server, cli_table):
    # The README's CLI session: create-table, put-item, get-item, list-tables.
    aws(server, "put-item", "--table-name", cli_table,
        "--item", '{"artist": {"S": "Nina"}, "year": {"N": "1965"}}')
    got = json.loads(aws(server, "get-item", "--table-name", cli_table,
                         "--key", '{"artist": {"S": "Nina"}}').stdout)
    assert got == {"Item": {"artist": {"S": "Nina"}, "year": {"N": "1965"}}}
    names = json.loads(aws(server, "list-tables").stdout)["TableNames"]
    assert cli_table in names


def test_aws_cli_wait_table_exists(server, cli_table):
    # Tables are ACTIVE at once, so the CLI's waiter returns on its first poll.
    aws(server, "wait", "table-exists", "--table-name", cli_table)
    desc = json.loads(aws(server, "describe-table", "--table-name", cli_table).stdout)["Table"]
    assert desc["TableStatus"] == "ACTIVE"
    assert desc["KeySchema"] == [{"AttributeName": "artist", "KeyType": "HASH"}]


def test_aws_cli_reports_dynamodb_error(server, table_name):
    # A request for a missing table fails with DynamoDB's error code in the CLI's message.
    proc = aws(server, "get-item", "--table-name", table_name + "_missing",
               "--key", '{"artist": {"S": "x"}}', check=False)
    assert proc.returncode != 0
    assert "ResourceNotFoundException" in proc.stderr
    assert "Requested resource not found" in proc.stderr

"""TagResource, UntagResource, ListTagsOfResource and CreateTable's Tags, embedded and over HTTP."""

import pytest

from kvstore.errors import DynamoDBError

from test_streams import drop_tables  # noqa: F401 (autouse fixture)

from api_helpers import raises


def _arn(ddb, name):
    return ddb.call("DescribeTable", TableName=name)["Table"]["TableArn"]


def _tags(ddb, arn):
    return sorted((t["Key"], t["Value"]) for t in ddb.call("ListTagsOfResource", ResourceArn=arn)["Tags"])


def test_tag_untag_list(ddb, make_table):
    # Tags are added, overwritten by key, removed (absent keys are fine) and listed.
    name = make_table()
    arn = _arn(ddb, name)
    assert ddb.call("ListTagsOfResource", ResourceArn=arn) == {"Tags": []}
    tags = [{"Key": "string", "Value": "string"}, {"Key": "7", "Value": " "}, {"Key": " ", "Value": "9"},
            {"Key": "k.e_y:/=+-@", "Value": ""}]
    assert ddb.call("TagResource", ResourceArn=arn, Tags=tags) == {}
    assert _tags(ddb, arn) == sorted((t["Key"], t["Value"]) for t in tags)
    ddb.call("TagResource", ResourceArn=arn, Tags=[{"Key": "string", "Value": "other"}])
    assert ("string", "other") in _tags(ddb, arn)
    assert ddb.call("UntagResource", ResourceArn=arn, TagKeys=["string", "absent"]) == {}
    assert [k for k, _ in _tags(ddb, arn)] == sorted(["7", " ", "k.e_y:/=+-@"])


def test_create_table_tags(ddb, make_table):
    # Tags given to CreateTable are listed; DescribeTable does not show them.
    name = make_table(Tags=[{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "db"}])
    assert _tags(ddb, _arn(ddb, name)) == [("env", "test"), ("team", "db")]
    assert "Tags" not in ddb.call("DescribeTable", TableName=name)["Table"]


def test_tag_limit_is_50(ddb, make_table):
    # At most 50 tags per table: a TagResource going past it is refused and changes nothing.
    name = make_table()
    arn = _arn(ddb, name)
    ddb.call("TagResource", ResourceArn=arn, Tags=[{"Key": str(i), "Value": str(i)} for i in range(30)])
    ddb.call("TagResource", ResourceArn=arn, Tags=[{"Key": str(i), "Value": str(i)} for i in range(20, 50)])
    raises(ddb, "ValidationException", "Number of Tags exceed the current limit for the provided ResourceArn",
           "TagResource", ResourceArn=arn, Tags=[{"Key": "one-more", "Value": "x"}])
    assert len(_tags(ddb, arn)) == 50


def test_create_table_with_too_many_tags_is_refused(ddb, table_name):
    # 51 tags on CreateTable: ValidationException, and no table.
    raises(ddb, "ValidationException", "Number of Tags exceed the current limit for the provided ResourceArn",
           "CreateTable", TableName=table_name, BillingMode="PAY_PER_REQUEST",
           KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
           AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
           Tags=[{"Key": str(i), "Value": str(i)} for i in range(51)])
    with pytest.raises(DynamoDBError):
        ddb.call("DescribeTable", TableName=table_name)
    raises(ddb, "ValidationException", "The Tag Key provided is invalid, Key: #bad",
           "CreateTable", TableName=table_name, BillingMode="PAY_PER_REQUEST",
           KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
           AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
           Tags=[{"Key": "#bad", "Value": "x"}])
    ddb.call("CreateTable", TableName=table_name, BillingMode="PAY_PER_REQUEST",  # Tags=[] is accepted
             KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
             AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], Tags=[])


def test_tag_key_and_value_rules(ddb, make_table):
    # DynamoDB's texts for bad keys and values, the aws: prefix and duplicates.
    name = make_table()
    arn = _arn(ddb, name)
    cases = [
        ({"Key": "k" * 129, "Value": "v"}, "The Tag Key provided is invalid, Key: " + "k" * 129),
        ({"Key": "", "Value": "v"}, "The Tag Key provided is invalid, Key: "),
        ({"Key": "ok", "Value": "v" * 257}, "The Tag Value provided is invalid, Value: " + "v" * 257),
        ({"Key": "ok"}, "The Tag Value provided is invalid, Value: null"),
        ({"Key": "ok", "Value": "#!%^"}, "The Tag Value provided is invalid, Value: #!%^"),
        ({"Key": "->>;-)", "Value": "ok"}, "The Tag Key provided is invalid, Key: ->>;-)"),
        ({"Key": "aws:zzz", "Value": "v"}, "Tag Key cannot be prefixed with aws:, Key: aws:zzz"),
    ]
    for tag, message in cases:
        raises(ddb, "ValidationException", message, "TagResource", ResourceArn=arn,
               Tags=[{"Key": "good", "Value": "g"}, tag])
    raises(ddb, "ValidationException", "Duplicate Tag Keys provided as input: Duplicate Tag Key found dup",
           "TagResource", ResourceArn=arn, Tags=[{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}])
    assert _tags(ddb, arn) == []  # nothing of a refused request was applied
    ddb.call("TagResource", ResourceArn=arn, Tags=[{"Key": "k" * 128, "Value": "v" * 256},
                                                   {"Key": "ünï cödé", "Value": "日本"}])
    assert len(_tags(ddb, arn)) == 2


def test_tag_requests_errors(ddb, make_table):
    # ResourceArn and Tags/TagKeys checks, in DynamoDB's order, and unknown tables.
    name = make_table()
    arn = _arn(ddb, name)
    raises(ddb, "ValidationException", "Invalid TableArn", "TagResource", Tags=[{"Key": "a", "Value": "b"}])
    raises(ddb, "ValidationException", "Invalid TableArn", "ListTagsOfResource")
    raises(ddb, "ValidationException",
           "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
           "TagResource", ResourceArn=arn)
    raises(ddb, "ValidationException", "Atleast one Tag needs to be provided as Input.",
           "TagResource", ResourceArn=arn, Tags=[])
    raises(ddb, "ValidationException",
           "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
           "UntagResource", ResourceArn=arn)
    raises(ddb, "ValidationException", "Atleast one Tag Key needs to be provided as Input.",
           "UntagResource", ResourceArn=arn, TagKeys=[])
    raises(ddb, "ValidationException", "The Tag Key provided is invalid, Key: " + "k" * 129,
           "UntagResource", ResourceArn=arn, TagKeys=["k" * 129])
    raises(ddb, "ValidationException", "Number of Tags exceed the current limit for the provided ResourceArn",
           "UntagResource", ResourceArn=arn, TagKeys=[str(i) for i in range(51)])
    raises(ddb, "ValidationException",
           "One or more parameter values were invalid: ARNs must start with 'arn:': I_do_not_exist",
           "TagResource", ResourceArn="I_do_not_exist", Tags=[{"Key": "a", "Value": "b"}])
    index_arn = arn + "/index/gsi"
    raises(ddb, "ValidationException",
           "One or more parameter values were invalid: Invalid resource arn provided, only table or stream is "
           f"accepted. Provided resource arn: {index_arn}", "ListTagsOfResource", ResourceArn=index_arn)
    other_region = arn.replace("us-east-1", "eu-west-1")
    raises(ddb, "ValidationException", f"Invalid TableArn: Invalid ResourceArn provided as input {other_region}",
           "ListTagsOfResource", ResourceArn=other_region)
    short = arn.rsplit("/", 1)[0] + "/ab"
    raises(ddb, "ValidationException", f"Invalid TableArn: Invalid ResourceArn provided as input {short}",
           "TagResource", ResourceArn=short, Tags=[{"Key": "a", "Value": "b"}])
    missing = arn + "_missing"
    for operation, extra in (("TagResource", {"Tags": [{"Key": "a", "Value": "b"}]}),
                             ("UntagResource", {"TagKeys": ["a"]}), ("ListTagsOfResource", {})):
        raises(ddb, "ResourceNotFoundException", f"Requested resource not found: ResourcArn: {missing} not found",
               operation, ResourceArn=missing, **extra)

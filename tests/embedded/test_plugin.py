"""The pytest plugin's fixtures, used directly and as a new user would use them.

The last tests run pytest in a subprocess on a small user suite written the
way moto suites are written, with ``-p kvstore.pytest_plugin`` (what the
``pytest11`` entry point does once kvstore is installed), so the plugin is
loaded exactly as pytest loads it.
"""

import os
import subprocess
import sys
import textwrap
import tomllib

import kvstore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_kvstore_db_fixture_is_fresh(kvstore_db):
    """kvstore_db is a new in-memory Database: no tables."""
    assert isinstance(kvstore_db, kvstore.Database)
    assert kvstore_db.table_names() == []


def test_dynamodb_client_fixture_bound_to_db(kvstore_db, dynamodb_client):
    """dynamodb_client is answered by kvstore_db."""
    kvstore_db.create_table("users", "id")
    assert dynamodb_client.list_tables()["TableNames"] == ["users"]


def test_dynamodb_resource_fixture_bound_to_db(kvstore_db, dynamodb_resource):
    """dynamodb_resource is answered by kvstore_db."""
    kvstore_db.create_table("users", "id").put({"id": "a"})
    assert dynamodb_resource.Table("users").get_item(Key={"id": "a"})["Item"] == {"id": "a"}


def test_kvstore_mock_fixture(kvstore_mock):
    """With kvstore_mock, a client the code under test makes itself is answered by kvstore_db."""
    import boto3

    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName="made_by_code",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert kvstore_mock.table_names() == ["made_by_code"]


def test_kvstore_server_fixture_over_http(kvstore_server):
    """kvstore_server is a real server: boto3 reaches it over HTTP at its endpoint."""
    client = kvstore_server.client()
    client.create_table(
        TableName="over_http",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName="over_http", Item={"id": {"S": "a"}})
    assert client.get_item(TableName="over_http", Key={"id": {"S": "a"}})["Item"] == {"id": {"S": "a"}}
    assert client.meta.endpoint_url == kvstore_server.endpoint
    assert kvstore_server.env["AWS_ENDPOINT_URL_DYNAMODB"] == kvstore_server.endpoint


def test_kvstore_server_reached_from_another_process(kvstore_server):
    """A client in another process finds the server through .env alone."""
    code = "import boto3; print(boto3.client('dynamodb').list_tables()['TableNames'])"
    env = dict(os.environ, **kvstore_server.env)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(kvstore_server.table_names())


def test_pyproject_registers_the_plugin():
    """The pytest11 entry point names this module, so installing kvstore loads it."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["entry-points"]["pytest11"]["kvstore"] == "kvstore.pytest_plugin"


# -- a user's suite, run by pytest itself ----------------------------------------------

MOTO_STYLE_SUITE = '''
"""A suite written for moto's mock_aws, switched to kvstore's plugin."""
import boto3
import pytest


def make_users(client):
    client.create_table(
        TableName="users",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


class UserStore:
    """The application code: it makes its own client, as code under test does."""

    def __init__(self):
        self.table = boto3.resource("dynamodb", region_name="us-east-1").Table("users")

    def add(self, user_id, name):
        self.table.put_item(Item={"id": user_id, "name": name})

    def name(self, user_id):
        item = self.table.get_item(Key={"id": user_id}).get("Item")
        return item and item["name"]


@pytest.fixture
def store(kvstore_mock):          # was: with mock_aws(): ...
    make_users(boto3.client("dynamodb", region_name="us-east-1"))
    return UserStore()


def test_add_and_read(store):
    store.add("u1", "Ada")
    assert store.name("u1") == "Ada"


def test_isolated_from_previous_test(store):
    assert store.name("u1") is None


def test_rejects_what_dynamodb_rejects(store):
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as info:
        store.add("", "nobody")
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_client_fixture(dynamodb_client):
    make_users(dynamodb_client)
    assert dynamodb_client.list_tables()["TableNames"] == ["users"]


def test_resource_fixture(dynamodb_resource, kvstore_db):
    kvstore_db.create_table("users", "id")
    dynamodb_resource.Table("users").put_item(Item={"id": "x"})
    assert kvstore_db.table("users").get({"id": "x"}) == {"id": "x"}


def test_server_first(kvstore_server):
    make_users(kvstore_server.client())


def test_server_second_sees_no_tables_of_the_first(kvstore_server):
    assert kvstore_server.client().list_tables()["TableNames"] == []
    make_users(kvstore_server.client())
'''


def _plugin_args():
    """``-p kvstore.pytest_plugin`` when the pytest11 entry point is not
    installed (a source checkout); nothing when it is (pip install), since
    pytest then loads the plugin itself and refuses to register it twice."""
    from importlib.metadata import entry_points

    installed = any(ep.name == "kvstore" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "kvstore.pytest_plugin"]


def run_pytest(directory, *args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", *_plugin_args(), "-p", "no:cacheprovider",
         "-q", *args, str(directory)],
        cwd=directory, env=env, capture_output=True, text=True, timeout=300,
    )


def test_plugin_runs_a_moto_style_suite(tmp_path):
    """A moto-style suite switched to the plugin's fixtures passes, tests isolated."""
    (tmp_path / "test_users.py").write_text(textwrap.dedent(MOTO_STYLE_SUITE))
    out = run_pytest(tmp_path, "-p", "no:randomly")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "7 passed" in out.stdout


def test_plugin_fixtures_listed(tmp_path):
    """pytest --fixtures shows the plugin's fixtures with their docs."""
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    assert True\n")
    out = run_pytest(tmp_path, "--fixtures")
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ("kvstore_db", "dynamodb_client", "dynamodb_resource", "kvstore_mock", "kvstore_server"):
        assert name in out.stdout


def test_plugin_import_is_cheap(tmp_path):
    """Loading the plugin imports neither the engine nor boto3 until a fixture is used."""
    (tmp_path / "test_check.py").write_text(textwrap.dedent('''
        import sys
        def test_nothing_heavy_loaded():
            assert "kvstore.database" not in sys.modules
            assert "boto3" not in sys.modules
    '''))
    out = run_pytest(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr

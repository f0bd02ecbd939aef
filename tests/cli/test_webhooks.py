"""``sitin webhooks``: subscriptions and the signing secret from the command line."""

import base64

from click.testing import CliRunner

from sitin.cli import main


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_subscribe_list_rotate_delete(tmp_path):
    runner = CliRunner(env={"SITIN_DATA_DIR": str(tmp_path / "data"), "SITIN_SECRET_KEY": "k"})
    run(runner, "projects", "create", "acme")
    created = run(
        runner,
        "webhooks",
        "create",
        "https://hooks.example.com/a",
        "--project",
        "acme",
        "--trigger",
        "bot.state_change",
        "--trigger",
        "transcript.update",
    )
    webhook_id = created.split()[1]
    listed = run(runner, "webhooks", "list", "--project", "acme")
    assert (
        f"{webhook_id}  https://hooks.example.com/a  bot.state_change,transcript.update  active"
        in listed
    )

    refused = runner.invoke(main, ["webhooks", "create", "http://127.0.0.1/x", "--project", "acme"])
    assert refused.exit_code != 0 and "SITIN_ALLOW_INSECURE_WEBHOOKS" in refused.output

    secret = run(runner, "webhooks", "secret", "show", "--project", "acme").strip().splitlines()[-1]
    assert len(base64.b64decode(secret)) == 32
    assert run(runner, "webhooks", "secret", "show", "--project", "acme").strip() == secret
    rotated = run(runner, "webhooks", "secret", "rotate", "--project", "acme", "--overlap", "60")
    new = rotated.strip().splitlines()[-1]
    assert new != secret and len(base64.b64decode(new)) == 32
    result = runner.invoke(main, ["webhooks", "secret", "show", "--project", "acme"])
    assert result.stdout.strip() == new
    assert "older secret still verifies until" in result.stderr

    assert f"{webhook_id} is inactive" in run(
        runner, "webhooks", "set-active", webhook_id, "false", "--project", "acme"
    )
    assert "inactive" in run(runner, "webhooks", "list", "--project", "acme")
    run(runner, "webhooks", "set-active", webhook_id, "true", "--project", "acme")
    unknown = runner.invoke(
        main, ["webhooks", "set-active", "webhook_nope", "true", "--project", "acme"]
    )
    assert unknown.exit_code != 0 and "no webhook webhook_nope" in unknown.output

    assert f"deleted {webhook_id}" in run(
        runner, "webhooks", "delete", webhook_id, "--project", "acme"
    )
    assert run(runner, "webhooks", "list", "--project", "acme") == ""

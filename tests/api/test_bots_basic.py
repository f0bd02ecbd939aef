"""Create, get and list bots through the API on both databases."""


def test_created_bot_is_joining_with_join_requested_event(client, project, new_bot):
    bot = new_bot(metadata={"customer": "42"})
    assert bot["id"].startswith("bot_") and len(bot["id"]) == 20
    assert bot["state"] == "joining"
    assert [e["type"] for e in bot["events"]] == ["join_requested"]
    assert bot["events"][0]["created_at"].endswith("Z")
    fetched = client.get(f"/api/v1/bots/{bot['id']}", headers=project.headers).json()
    assert fetched == bot


def test_other_projects_bot_is_not_found(client, project, other_project, new_bot):
    bot = new_bot()
    response = client.get(f"/api/v1/bots/{bot['id']}", headers=other_project.headers)
    assert response.status_code == 404
    assert response.json() == {"error": "Bot not found"}

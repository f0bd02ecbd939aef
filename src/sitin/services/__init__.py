"""Operations behind the API and the CLI (bots, webhook subscriptions). Each runs in the
transaction its caller opened and passes in; the queries are in ``sitin.db``."""

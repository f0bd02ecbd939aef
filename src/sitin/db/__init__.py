"""Database: tables, engines, migrations and the queries several places share."""

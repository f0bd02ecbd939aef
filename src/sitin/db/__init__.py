"""Database: tables, engines, migrations and every query sitin runs on its database, one
module per kind of row."""

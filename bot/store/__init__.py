"""SQLite storage: one writer thread, migrations, keyword-only query functions per table."""

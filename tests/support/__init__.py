"""What tests (and benches) share: the fake assistant, the stand-in servers of every external
protocol (Confluence, Zendesk, a web site, Slack), a throwaway PostgreSQL, toy plug-ins and
common paths. Imported as ``tests.support.<module>``; nothing here is a test."""

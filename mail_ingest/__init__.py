"""Email ingestion: the shared mailbox over IMAP, with nothing ever lost.

`mail_ingest.job.run_once(services)` drains the mailbox; `run_forever(services, stop_event)`
keeps reading with IDLE. Parsing (`mail_ingest.parse.parse_message`) is pure.
"""

"""The worker: a huey consumer executing queued tasks, plus the periodic jobs, in or out of the
API process. ``sitin.bootstrap.build_worker`` builds it."""

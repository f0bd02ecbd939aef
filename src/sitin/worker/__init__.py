"""The worker: the task queue (huey), periodic jobs, running them in or out of the API process."""

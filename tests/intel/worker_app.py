"""The Celery app for the real-worker test: Stopclock's, on a queue of the test's own, so
the tasks a worker enqueues itself (the final callback) stay on that queue too."""

import os

from config.celery import app

app.conf.task_default_queue = os.environ["STOPCLOCK_TEST_QUEUE"]

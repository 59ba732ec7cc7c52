"""The classroom: courses, exercises with checks, reservations and quotas.

``checks.py``, ``booking.py`` and ``template.py`` are pure (no Django, no kernel),
so the worker imports them; ``models.py``, ``services.py``, ``permissions.py``,
``api.py`` and ``admin.py`` are the Django side. The checks run on the worker in
``worker/checks.py``; its Celery tasks live in ``worker/tasks_classroom.py``.
"""

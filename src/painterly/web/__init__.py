"""painterly studio: a local web app that shows a stylisation forming, step by step.

``painterly studio`` (see :mod:`.server`) serves :func:`.app.create_app` on 127.0.0.1.
The page is plain HTML, CSS and JavaScript under ``static/``; nothing is fetched from the
internet. Jobs run one at a time in a worker thread (:mod:`.jobs`); uploads are decoded and
checked before they are stored (:mod:`.uploads`). Fast mode and the Live camera tab paint
with fast style networks in one pass, outside the queue (:mod:`.fast_views`).
"""

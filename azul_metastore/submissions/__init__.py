"""Submissions and everything else an analyst writes or fetches as bytes: uploads to a source or
as a child, neutered downloads, tags, expedite and external download requests (inventory §2.2-2.4,
§4.9, §5.5, §7). Routes parse the request, call one function here, and format the answer.

Modules: ``spool`` (multipart upload to files), ``checks`` (input rules), ``entities`` (events
built from stored streams), ``submit`` and ``children`` (the four submit endpoints), ``download``,
``tags``, ``expedite``, ``external``.
"""

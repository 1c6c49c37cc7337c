"""The API the mobile SDK calls (``/sdk/v1/``): registration, bindings, events, the inbox.

Every request carries the app's AccessID and AccessKey (``authentication``), names its device by
``token`` and may only reach devices of that app. ``serializers`` validate every request and
``views`` are thin handlers; arrival/click/dismiss reports go through ``push.events.record``.
"""

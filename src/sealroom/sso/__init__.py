"""Single sign-on with the organisation's OpenID Connect identity providers.

``provider`` talks to one provider (discovery, published keys, code exchange, userinfo), ``tokens``
validates the JWTs it signs, ``mapping`` turns claims into roles and MFA evidence, ``service`` runs
sign-in, step-up, bearer tokens, re-checks and logout, auditing each step.
"""

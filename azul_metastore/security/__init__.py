"""Security labels, caller access and authentication.

* :class:`SecurityPolicy` - the label vocabulary: parse, normalise, combine, display, encode.
* :class:`Access` - what a caller may read (``can_see``) and assign (``can_assign``); every read path
  of every index adapter filters with it (see :mod:`azul_metastore.security.access`).
* :class:`Authenticator` - ``Authorization`` header to :class:`Identity` (JWT, API tokens, open mode).
"""

from azul_metastore.security._encoding import ANY, EncodedSecurity, safe_label
from azul_metastore.security.access import Access, visible_ids, visible_securities
from azul_metastore.security.auth import AUDIT_LOGGER, Authenticator, Identity, log_auth_failure
from azul_metastore.security.labels import ParsedSecurity, SecurityPolicy

__all__ = [
    "ANY",
    "AUDIT_LOGGER",
    "Access",
    "Authenticator",
    "EncodedSecurity",
    "Identity",
    "ParsedSecurity",
    "SecurityPolicy",
    "log_auth_failure",
    "safe_label",
    "visible_ids",
    "visible_securities",
]

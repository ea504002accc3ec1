"""The stock audits, one module per family; each registers its audits with
:func:`auditkit.registry.register_audit`. Every module here is imported when
the registry is first consulted, so a new family is a new module and nothing else.
"""

"""The stock audits (shipped in the wheel as auditkit.stock_audits for `auditkit init`)."""

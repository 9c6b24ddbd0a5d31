"""Every audit action the console writes, named once: what operators query and runbooks cite.

A test checks that every action literal in the code is listed here, and the runbooks test
checks that every action a runbook names is one of these; add a line when you add an action.
"""

from __future__ import annotations

#: action → what one row of it means.
ACTIONS: dict[str, str] = {
    "console.auth.login": "a person logged in",
    "console.auth.login_failed": "a login was refused",
    "console.auth.logout": "a person logged out",
    "console.auth.sessions_ended": "every session of a user was ended",
    "console.auth.totp_enrolled": "an admin enrolled a TOTP authenticator at /account/totp",
    "console.auth.totp_failed": "a TOTP code was refused (wrong, replayed)",
    "console.auth.totp_locked": "5 failed codes in 15 minutes locked the admin's promotions",
    "console.auth.totp_reset": "`user totp-reset` forgot an admin's enrolment",
    "console.user.created": "`user create` made a user",
    "console.user.password_set": "`user set-password` reset a password (the user's sessions end)",
    "console.user.disabled": "`user disable` disabled a user (sessions end, tokens revoked)",
    "console.user.role_changed": "`user set-role` changed a role (the user's sessions end)",
    "console.token.created": "an API or service token was issued",
    "console.token.revoked": "a token was revoked",
    "console.flags.toggled": "a flag's db value was set (page, API or `flags set`)",
    "console.flags.promotion_marked": "a flag was marked for promotion on staging",
    "console.flags.promoted": "a marked flag was promoted on prod",
    "console.flags.promotion_closed": "a promotion mark was closed (promoted or withdrawn)",
    "console.status.set": "`status set` changed a surface's status by hand",
    "console.status.simulated": "a test degradation was set on a surface",
    "console.status.simulation_cleared": "a test degradation was cleared",
    "console.status.ticket_filed": "entry A: Investigate filed (or reused) a FreeScout ticket",
    "console.alerts.ticket_filed": "entry B: a P2+ alert filed a FreeScout ticket",
    "console.customers.imported": "customers were imported for entry C",
    "console.deploy.intent": "a deploy was requested from the tile modal",
    "console.deploy.intent.breakglass": "a break-glass deploy was requested (`deploy --breakglass`)",
    "console.deploy.dispatched": "GitHub accepted a deploy's workflow dispatch",
    "console.deploy.completed": "a deploy's run finished (its conclusion in the payload)",
    "console.version.promoted": "an admin promoted staging's SHA to prod (PROMOTE + TOTP)",
    "console.version.promote_refused": "a promotion was refused (the reason in the payload, never the code)",
    "console.secrets.rotated": "a Mode A rotation finished: vault, both apps, verified",
    "console.secrets.rotated_manually": "an admin recorded a manual (SOP) rotation",
    "console.secrets.rotation_incomplete": "a rotation stopped at a step; retry resumes it",
}

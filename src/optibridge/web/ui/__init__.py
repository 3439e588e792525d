"""The control panel (SPEC 5.6): server-rendered pages for administrators.

- `/ui/login`, `/ui/logout` (`login`): sign in with an admin token (a session cookie; see
  `auth`).
- `/ui/sites` (`sites`): the sites this administrator may manage; a deployment admin creates
  sites here.
- `/ui/sites/{site_id}` (`site_settings`): the site's Optimove page, in the order a Comm100
  administrator knows: *Connect* (Optimove account, Comm100 site; each button tests the
  connection for real and saves it only when it works; connecting Comm100 registers the Live
  Chat webhooks), *Manage Integration Settings* (saved as a whole, every problem shown beside
  its field), *Webhooks in Comm100* (`comm100_webhooks`: each needed webhook's state,
  *Register in Comm100*, the ticket trigger's steps by hand), the webhook URLs to paste into
  Comm100 by hand, and *Optimove tab in Comm100* (`comm100_app`: sign-in, the app manifest).
- `/ui/sites/{site_id}/syncs` (`sync_log`): the sync log with filters, counts for the last 24
  hours, retry.

`routes` puts the pages together (with the static files and the catch-all 404 page); `render`
draws them, `settings_form` turns the settings document into form fields and back.

Transport only: every rule lives in the services. Forms are plain HTML forms (urlencoded), each
POST carries a CSRF token, and every POST that changes something answers with a redirect.
"""

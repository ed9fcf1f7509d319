-- The apps each enterprise subscribes to (Template Lookup, URL Shortener, Campaign Manager,
-- Digital Asset Manager). An account may switch on only the apps its enterprise subscribes to;
-- withdrawing a subscription switches the app off in every account of the enterprise.
CREATE TABLE app_subscriptions (
    enterprise_id text NOT NULL REFERENCES organizations (id),
    app           text NOT NULL CHECK (app IN ('template_lookup', 'url_shortener',
                                               'campaign_manager', 'digital_asset_manager')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (enterprise_id, app)
);

-- Every app an active account already has on is subscribed for its enterprise, so no account
-- stored before subscriptions existed loses an app (or fails its next PATCH).
INSERT INTO app_subscriptions (enterprise_id, app)
SELECT DISTINCT a.enterprise_id, app.key
FROM accounts a
CROSS JOIN LATERAL jsonb_each(a.config -> 'apps') AS app
WHERE a.status = 'active'
  AND jsonb_typeof(a.config -> 'apps') = 'object'
  AND app.value = 'true'::jsonb
  AND app.key IN ('template_lookup', 'url_shortener', 'campaign_manager', 'digital_asset_manager')
ON CONFLICT DO NOTHING;

"""Local fakes of the HTTP networks routing-svc's connectors talk to (Meta's Graph API for the
WhatsApp Cloud API, Google's RBM API and OAuth token endpoint), following the providers'
documented request paths, bodies, headers, error bodies, callback bodies and signatures.
Each runs on a free loopback port; tests script their answers and emit signed callbacks."""

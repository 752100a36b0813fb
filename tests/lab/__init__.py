"""The TKE lab: real proxies (nginx, iptables NAT) in network namespaces in front of the example apps (issue 5).

``netns`` creates and removes namespaces, ``topology`` is the address plan, the chains and their realip settings
(from examples/kubernetes), ``proxies`` writes the CLB / kube-proxy / ingress-nginx configurations, ``build`` wires
it all and starts the apps, ``client`` and ``check.lua`` send the traffic, ``doc`` renders
examples/kubernetes/lab-configs.md. Needs root; ``REALIP_LAB_KEEP=1`` keeps the logs and configs of a run,
``REALIP_LAB_WRITE_DOC=1`` rewrites the document.
"""

"""What the tests, the benchmarks and the demo share; none of it ships in the operator's package.

* ``localcluster`` — etcd + kube-apiserver on loopback ports (envtest's role);
* ``emulator`` — the Cloud Control emulator as a subprocess, and its admin API;
* ``operator`` — ``userprofile-operator run`` as a subprocess;
* ``processes`` — free ports, stopping a process group, log tails;
* ``kube`` — kubectl against a cluster, and waits; ``helm`` — the pinned helm with homes of its own;
* ``manifests`` — the one factory of SageMakerUserProfile manifests;
* ``demo`` — ``userprofile-operator demo``; ``node``, ``chart``, ``demo_node`` — the real node and the chart on it.
"""

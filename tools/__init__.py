"""Tools around the runtime: benchmarks, the demo, local MQTT brokers and evaluation code.

Nothing in ``edge``, ``hardware``, ``collector`` or ``export`` imports this package, and the wheel does not carry it
(``setup.cfg`` lists the runtime packages only): an edge box installs no tools. In a checkout (``make`` installs the
repository in editable mode and puts its root on the path) ``smartstore bench``, ``bench-collector`` and ``demo``
come from :mod:`tools.cli`, the tests start brokers with :class:`tools.broker.LocalBroker`, and the scripts in
``tools/bench/`` reproduce the figures of ``docs/benchmarks.md``.

- :mod:`tools.broker`: the one local Mosquitto (demo, benchmarks, tests); :mod:`tools.embedded_broker`: amqtt fallback
- :mod:`tools.demo`: ``smartstore demo``
- :mod:`tools.bench_edge` (+ ``ultralytics_predict.py``, its child), :mod:`tools.bench_service`: ``smartstore bench``
- :mod:`tools.bench_collector`: ``smartstore bench-collector``
- :mod:`tools.quality`: detector precision/recall against MOTChallenge ground truth
"""

from pathlib import Path

#: OpenCV's sample video (Debian ``opencv-doc``): the demo's and the benchmarks' default input
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")

"""``smartstore`` subcommands of the shelf path (``edge.cli`` registers them): serial shelf sensors.

Parsing only: handlers import their library inside the handler so ``--help`` stays light.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from hardware.cli import HW_HELP
from smartstore import Subparsers, UserError, add_command, command_group


def _sensors(args: argparse.Namespace) -> int:
    import threading
    import time

    from edge.analytics.sensor_processor import SensorEvent, SensorProcessor
    from edge.analytics.weights import WeightConfig
    from hardware.serial_sensors import SerialSensorReader, check_port

    try:
        check_port(args.port)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from exc

    def show(event: SensorEvent) -> None:
        print(json.dumps({"type": type(event).__name__, **vars(event)}), flush=True)

    processor = SensorProcessor(WeightConfig(unit_g=args.unit_g))
    reader = SerialSensorReader(args.port, show, baudrate=args.baud, processor=processor).start()
    try:
        if args.seconds:
            time.sleep(args.seconds)
        else:
            threading.Event().wait()  # until ^C
    finally:
        reader.stop()
        print(json.dumps({"stats": reader.stats.as_dict()}))
    return 0


def _register_sensors(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "hw", HW_HELP)  # the weight analytics live in edge: hardware never imports it
    sensors = add_command(group, "sensors", "print shelf-sensor events read from a serial port", _sensors)
    sensors.add_argument("port", help="device path (/dev/ttyUSB0) or pyserial URL (socket://host:port)")
    sensors.add_argument("--baud", type=int, default=9600)
    sensors.add_argument("--seconds", type=float, default=0, help="stop after this long (default: run until ^C)")
    sensors.add_argument("--unit-g", type=float, help="weight of one item, to count units in events")


REGISTRARS: tuple[Callable[[Subparsers], None], ...] = (_register_sensors,)

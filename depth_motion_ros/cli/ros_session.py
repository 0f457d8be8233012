"""An rclpy context with one node spun by a background executor, for the demo's player and recorder.

The demo and its test publish from the main thread while subscriptions are serviced in the background;
shutting down in the right order (executor, thread, node, context) avoids aborts at interpreter exit.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


@contextmanager
def spinning_node(name: str) -> Iterator[Node]:
    """Yield a node in its own rclpy context whose callbacks run in a background thread."""
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node(name, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, name=f"{name}_executor", daemon=True)
    thread.start()
    try:
        yield node
    finally:
        executor.shutdown()
        thread.join(timeout=5.0)
        node.destroy_node()
        rclpy.shutdown(context=context)

"""ament_python build script for depth_motion_ros.

The training code lives in the top-level folder ``training/`` (a separate concern that the node never
imports) but is installed under the namespaced import name ``depth_motion_ros.training``, so installing
this package never puts a generic ``training`` module into site-packages.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "depth_motion_ros"

runtime_packages = find_packages(include=[PACKAGE, f"{PACKAGE}.*"])
training_packages = [f"{PACKAGE}.training"] + [
    f"{PACKAGE}.training.{name}" for name in find_packages(where="training")
]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=runtime_packages + training_packages,
    package_dir={f"{PACKAGE}.training": "training"},
    package_data={f"{PACKAGE}.training": ["configs/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
        (f"share/{PACKAGE}/models", glob("models/*.pt") + glob("models/*.md")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="depth_motion_ros maintainers",
    maintainer_email="maintainers@depth-motion-ros.invalid",
    description="Self-supervised monocular depth, odometry and object motion for ROS 2.",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            f"depth_motion_node = {PACKAGE}.ros.node:main",
            f"depth_motion_lifecycle_node = {PACKAGE}.ros.lifecycle_node:main",
            f"depth_motion_infer = {PACKAGE}.cli.infer:main",
            f"depth_motion_demo = {PACKAGE}.cli.demo:main",
            f"depth_motion_eval = {PACKAGE}.evaluation.eval_cli:main",
            f"depth_motion_synth = {PACKAGE}.synthetic.synth_cli:main",
            f"depth_motion_train = {PACKAGE}.training.train_cli:main",
            f"depth_motion_export = {PACKAGE}.training.export_cli:main",
        ],
    },
)

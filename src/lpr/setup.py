import os

from setuptools import find_packages, setup

PACKAGE = 'lpr'
_DATA = [
    ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
    ('share/' + PACKAGE, ['package.xml']),
]

# The launch file and the parameters live at the top of the repository (one copy,
# shared by `ros2 launch` and the pip runner); this package installs them.
_TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
_DATA += [
    ('share/' + PACKAGE + '/launch', [os.path.relpath(os.path.join(_TOP, 'launch', 'bringup.launch.py'))]),
    ('share/' + PACKAGE + '/config', [os.path.relpath(os.path.join(_TOP, 'config', 'lpr.params.yaml')),
                                      os.path.relpath(os.path.join(_TOP, 'config', 'fastdds_shm.xml'))]),
]

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=_DATA,
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='lpr developers',
    maintainer_email='dev@lpr.invalid',
    description='Bringup of the lpr graph: the node list, the launch file and the parameters it installs, the runner '
                'for pip-only machines (lpr run, in lpr_tools), autostart units and the UPS watcher.',
    license='AGPL-3.0-or-later',
)

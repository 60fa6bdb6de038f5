from setuptools import find_packages, setup

PACKAGE = 'lpr_camera'
_DATA = [
    ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
    ('share/' + PACKAGE, ['package.xml']),
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
    description='Camera node: frames from a video file, image folder, RTSP/USB (OpenCV), Picamera2 or a synthetic scene.',
    license='AGPL-3.0-or-later',
    entry_points={
        'console_scripts': [
            'camera_node = lpr_camera.node:main'
        ],
    },
)

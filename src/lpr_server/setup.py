from setuptools import find_packages, setup

PACKAGE = 'lpr_server'
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
    zip_safe=False,
    maintainer='lpr developers',
    maintainer_email='dev@lpr.invalid',
    description='Central lpr server: receives plate events from edge bridges over Socket.IO, stores them, '
                'serves a small REST API.',
    license='AGPL-3.0-or-later',
    entry_points={
        'console_scripts': [
            'lpr-server = lpr_server.cli:main',
        ],
    },
)

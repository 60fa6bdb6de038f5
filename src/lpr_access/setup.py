from setuptools import find_packages, setup

PACKAGE = 'lpr_access'
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
    description='Access node: allow/deny/visitor decisions on plate events, barrier drivers (log, HTTP relay, GPIO).',
    license='AGPL-3.0-or-later',
    entry_points={
        'console_scripts': [
            'access_node = lpr_access.node:main'
        ],
    },
)

from setuptools import find_packages, setup

PACKAGE = 'lpr_tools'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='lpr developers',
    maintainer_email='dev@lpr.invalid',
    description='The lpr command and the tools around the graph: evaluation, benchmarks, bags, the Foxglove '
                'live view, model installation, crash tests.',
    license='AGPL-3.0-or-later',
    entry_points={
        'console_scripts': [
            'lpr = lpr_tools.cli:main',
            'foxglove_bridge = lpr_tools.foxglove_bridge:main',
        ],
    },
)

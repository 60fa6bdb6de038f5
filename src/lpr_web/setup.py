from setuptools import find_packages, setup

PACKAGE = 'lpr_web'
_DATA = [
    ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
    ('share/' + PACKAGE, ['package.xml']),
]

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={PACKAGE: ['templates/*.html', 'static/*']},
    data_files=_DATA,
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='lpr developers',
    maintainer_email='dev@lpr.invalid',
    description="The operator's local web journal: events, search, corrections, access lists, health.",
    license='AGPL-3.0-or-later',
    entry_points={
        'console_scripts': [
            'lpr-web = lpr_web.cli:main',
        ],
    },
)

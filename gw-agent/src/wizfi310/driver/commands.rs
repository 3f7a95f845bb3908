//! The typed commands, one method each: `AT` and module info, Wi-Fi,
//! sockets, GPIO/ADC and the module's GMMP client.

use super::*;

impl Driver {
    /// `AT`.
    pub async fn at(&self) -> Result<(), Error> {
        self.execute(&At).await
    }

    /// `AT+MMAC=?`.
    pub async fn mac(&self) -> Result<MacAddress, Error> {
        self.execute(&GetMac).await
    }

    /// `AT+MINFO`.
    pub async fn info(&self) -> Result<FirmwareInfo, Error> {
        self.execute(&GetInfo).await
    }

    /// `AT+MECHO=<0|1>`.
    pub async fn set_echo(&self, on: bool) -> Result<(), Error> {
        self.execute(&SetEcho(on)).await
    }

    /// `AT+MMSG=<level>`.
    pub async fn set_message_level(&self, level: MessageLevel) -> Result<(), Error> {
        self.execute(&SetMessageLevel(level)).await
    }

    /// `AT+MRESET` (long timeout). The module comes back with echo as saved
    /// in its profile; call [`Driver::init`] again.
    pub async fn reset(&self) -> Result<(), Error> {
        self.execute(&Reset).await
    }

    /// `AT+WSET`.
    pub async fn wifi_set(&self, set: &WifiSet) -> Result<(), Error> {
        self.execute(set).await
    }

    /// `AT+WSEC`.
    pub async fn wifi_security(&self, sec: &WifiSecurity) -> Result<(), Error> {
        self.execute(sec).await
    }

    /// `AT+WNET`.
    pub async fn wifi_net(&self, net: &WifiNet) -> Result<(), Error> {
        self.execute(net).await
    }

    /// `AT+WJOIN` (long timeout).
    pub async fn join(&self) -> Result<JoinOutcome, Error> {
        self.execute(&Join).await
    }

    /// `AT+WLEAVE`.
    pub async fn leave(&self) -> Result<(), Error> {
        self.execute(&Leave).await
    }

    /// `AT+WSTAT`.
    pub async fn wifi_status(&self) -> Result<WifiStatus, Error> {
        self.execute(&GetWifiStatus).await
    }

    /// `AT+SMGMT=<sid>` / `ALL`.
    pub async fn close_socket(&self, which: SocketClose) -> Result<(), Error> {
        self.execute(&which).await
    }

    /// `AT+SMGMT=?`.
    pub async fn sockets(&self) -> Result<Vec<SocketInfo>, Error> {
        self.execute(&ListSockets).await
    }

    /// `AT+SFORM=?`.
    pub async fn data_form(&self) -> Result<SformSetting, Error> {
        self.execute(&GetDataForm).await
    }

    /// `AT+FGETADC=?`.
    pub async fn adc(&self) -> Result<u16, Error> {
        self.execute(&ReadAdc).await
    }

    /// `AT+FGPIO=<pin>,2,0`: read a pin.
    pub async fn gpio_read(&self, pin: u8) -> Result<GpioLevel, Error> {
        let shown = Gpio::Read(pin).shown();
        self.execute(&Gpio::Read(pin)).await?.ok_or(Error::Parse {
            command: shown,
            line: String::new(),
            reason: "a GPIO level",
        })
    }

    /// `AT+FGPIO=<pin>,3,<level>`: set a pin.
    pub async fn gpio_write(&self, pin: u8, level: GpioLevel) -> Result<(), Error> {
        self.execute(&Gpio::Write(pin, level)).await.map(drop)
    }

    /// `AT+FGPIO=<pin>,<0|1>,<config>`: configure a pin as input or output.
    pub async fn gpio_configure(
        &self,
        pin: u8,
        output: bool,
        config: GpioConfig,
    ) -> Result<(), Error> {
        let command = if output {
            Gpio::ConfigureOutput(pin, config)
        } else {
            Gpio::ConfigureInput(pin, config)
        };
        self.execute(&command).await.map(drop)
    }

    /// `AT+GMMPSET`.
    pub async fn gmmp_set(&self, set: &GmmpSet) -> Result<(), Error> {
        self.execute(set).await
    }

    /// `AT+GMMPDATA`.
    pub async fn gmmp_data(&self, data: &GmmpData) -> Result<(), Error> {
        self.execute(data).await
    }

    /// `AT+GMMPOPT`.
    pub async fn gmmp_opt(&self, opt: GmmpOpt) -> Result<(), Error> {
        self.execute(&opt).await
    }
}
